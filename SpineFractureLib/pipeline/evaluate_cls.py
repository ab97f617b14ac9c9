"""``evaluate --task classification``: fracture metrics of a classifier on labelled data or fresh phantoms.

Every case goes through the inference path: the segmentation model predicts the mask and the
fracture-region map (once per case, cacheable), then :class:`Classifier` classifies and computes
Grad-CAM. Levels the segmentation misses get the validation prior as their probability in the
RSNA log loss (a submission must give a number) and are left out of AUC, sensitivity and ECE.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..constants import LEVELS
from ..data.cls_cases import ClsCache, ClsSample
from ..metrics.classification import (
    ece_if_calibrated,
    expected_calibration_error,
    level_pairs,
    reliability_bins,
    roc_auc,
    rsna_weighted_log_loss,
    sensitivity_specificity,
)
from ..models.registry import segmenter_tag
from .classify import Classification, Classifier
from .segment import Segmenter

log = logging.getLogger(__name__)
#: A heat-map peak within this distance (mm = voxels at 1 mm) of the true fracture region points at it.
POINTING_MM = 5.0
DIFFICULTY_BINS = ((0.0, 1 / 3, "easy"), (1 / 3, 2 / 3, "medium"), (2 / 3, 1.0001, "hard"))


def evaluate_classification(model: str = "default", segmentation: str = "default",
                            data: str | os.PathLike | None = None, phantoms: int | None = None, seed: int = 900000,
                            device: str = "auto", phantom_config: dict[str, Any] | None = None,
                            cache: str | os.PathLike | None = None, gradcam: bool = True) -> dict[str, Any]:
    """Classify every case and compare with its truth.

    Args:
        model: classifier: registered name, ``default`` or a ``model.pt`` written by ``train-cls``.
        segmentation: the segmentation model that gives the masks.
        data: a labelled folder (case folders or RSNA 2022), or None for phantoms.
        phantoms: number of phantoms (seeds ``seed`` ..) when ``data`` is None.
        seed: first phantom seed (keep it away from training and validation seeds).
        device: auto, cpu, cuda or mps.
        phantom_config: :class:`PhantomConfig` keyword arguments (e.g. ``difficulty``).
        cache: folder caching the segmentation of each case.
        gradcam: also compute Grad-CAM (the pointing rate is None without it; the rest is unchanged).

    Returns:
        JSON-ready metrics (see :func:`summarise_classification`) with ``model``, ``data``,
        ``per_case`` (probabilities and truth) and ``seconds_per_case``.
    """
    classifier = Classifier(model, device)
    if data is not None:
        from ..data.labelled_dirs import list_classification_cases

        loaders, source = list_classification_cases(data), str(data)
    else:
        from ..data.phantom_loaders import phantom_loaders

        loaders = phantom_loaders(range(seed, seed + int(phantoms or 0)), phantom_config)
        source = f"phantoms seeds {seed}..{seed + int(phantoms or 0) - 1}" + (
            f" {phantom_config}" if phantom_config else "")
    prepared = ClsCache(loaders, cache, lambda: Segmenter(segmentation, device), tag=segmenter_tag(segmentation))
    per_case, seconds = [], []
    for i in range(len(prepared)):
        sample = prepared[i]
        t0 = time.perf_counter()
        result = classifier.classify(sample.hu, sample.predicted, sample.fracture_prob.astype(np.float32) / 255.0,
                                     gradcam=gradcam)
        seconds.append(time.perf_counter() - t0)
        per_case.append(case_record(sample, result))
    cal = classifier.loaded.calibration
    prior = cal.validation.get("fractured_levels", 0) / max(1, cal.validation.get("levels", 0)) or 0.1
    metrics = summarise_classification(per_case, {p: cal.thresholds[p] for p in cal.thresholds}, prior)
    return metrics | {"cases": len(per_case), "data": source, "seed": seed if data is None else None,
                      "model": classifier.model_info.as_json(), "calibration": cal.validation,
                      "seconds_per_case": round(float(np.mean(seconds)), 3) if seconds else None,
                      "per_case": per_case}


def case_record(sample: ClsSample, result: Classification) -> dict[str, Any]:
    """What the metrics need of one case: truth, probabilities, fracture-region Dice, Grad-CAM pointing."""
    levels = sample.truth.get("levels", {})
    record: dict[str, Any] = {
        "case": sample.case_id, "difficulty": sample.truth.get("difficulty"),
        "patient": int(bool((sample.fractured == 1).any() or sample.truth.get("patient_fractured"))),
        "patient_probability": result.patient_probability,
        "levels": {}, "fracture_region_dice": None,
    }
    if sample.fracture_truth is not None and sample.fracture_truth.any():
        pred = sample.fracture_prob >= 128
        truth = sample.fracture_truth > 0
        record["fracture_region_dice"] = float(2 * (pred & truth).sum() / (pred.sum() + truth.sum()))
    for i, lv in enumerate(LEVELS):
        target = int(sample.fractured[i])
        pointing = {}
        for key, peaks in (("pointing", result.gradcam_peak_zyx), ("peak_pointing", result.peak_zyx)):
            pointing[key] = None
            if target == 1 and peaks[i] is not None and sample.fracture_truth is not None:
                pointing[key] = _points_at_fracture(sample, i + 1, peaks[i])
        record["levels"][lv] = {"target": target, "probability": result.probabilities[i],
                                "kind": levels.get(lv, {}).get("kind"), **pointing}
    return record


def _points_at_fracture(sample: ClsSample, value: int, peak: tuple[int, int, int]) -> bool | None:
    """Whether ``peak`` lies within POINTING_MM of this level's true fracture region (crop at 1 mm)."""
    truth_labels = sample.given if sample.given is not None else sample.predicted
    near_level = ndimage.binary_dilation(truth_labels == value, iterations=int(POINTING_MM))
    region = (sample.fracture_truth > 0) & near_level
    if not region.any():
        return None
    lo = np.maximum(np.asarray(peak) - int(POINTING_MM) - 1, 0)
    hi = np.asarray(peak) + int(POINTING_MM) + 2
    box = region[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    pts = np.argwhere(box) + lo
    return bool(pts.size and np.min(np.linalg.norm(pts - np.asarray(peak), axis=1)) <= POINTING_MM)


def _rounded(v: float | None, n: int = 4) -> float | None:
    return None if v is None else round(float(v), n)


def _rounded_dict(d: dict[str, float] | None) -> dict[str, float | None] | None:
    return None if d is None else {k: _rounded(v) for k, v in d.items()}


def summarise_classification(per_case: list[dict[str, Any]], thresholds: dict[str, dict[str, float]],
                             prior: float = 0.1) -> dict[str, Any]:
    """Aggregate case records into the evaluation metrics.

    Returns:
        ``auc`` {C1..C7, macro (mean of the levels' AUCs), pooled, patient};
        ``operating_points`` {balanced|triage: {threshold, patient_threshold, sensitivity,
        specificity, patient_sensitivity, patient_specificity, per_level {C1..: {sensitivity,
        specificity}}}}; ``rsna_log_loss``; ``ece`` {level, patient}; ``ece_if_calibrated``
        {level, patient: {expected, q90, p_value}} (the ECE a perfectly calibrated model would show
        on this many cases, and how often it reaches the measured one); ``reliability``;
        ``by_kind`` {kind: {auc, sensitivity}}; ``by_difficulty`` {easy|medium|hard: {auc, cases}};
        ``fracture_region_dice``; ``gradcam_pointing_rate`` (true-positive levels whose Grad-CAM peak
        lies within 5 mm of the true fracture) and ``peak_pointing_rate`` (the same for the peak the
        reader is taken to, ``peak_slice``: the fracture-region head's where the classifier has
        one); ``levels_missed`` (true levels the segmentation did not find).
    """
    auc = {lv: _rounded(roc_auc(*level_pairs(per_case, lv))) for lv in LEVELS}
    have = [v for v in auc.values() if v is not None]
    auc["macro"] = _rounded(np.mean(have)) if have else None
    y_all, p_all = level_pairs(per_case)
    auc["pooled"] = _rounded(roc_auc(y_all, p_all))
    cases = [c for c in per_case if c["patient_probability"] is not None]
    py = np.array([c["patient"] for c in cases])
    pp = np.array([c["patient_probability"] for c in cases])
    auc["patient"] = _rounded(roc_auc(py, pp))
    points = {}
    for name, t in thresholds.items():
        sens, spec = sensitivity_specificity(y_all, p_all, t["level"])
        psens, pspec = sensitivity_specificity(py, pp, t["patient"])
        per_level = {}
        for lv in LEVELS:
            s, q = sensitivity_specificity(*level_pairs(per_case, lv), t["level"])
            per_level[lv] = {"sensitivity": _rounded(s), "specificity": _rounded(q)}
        points[name] = {"threshold": t["level"], "patient_threshold": t["patient"], "sensitivity": _rounded(sens),
                        "specificity": _rounded(spec), "patient_sensitivity": _rounded(psens),
                        "patient_specificity": _rounded(pspec), "per_level": per_level}
    lp = np.array([[prior if c["levels"][lv]["probability"] is None else c["levels"][lv]["probability"]
                    for lv in LEVELS] for c in per_case]).reshape(-1, len(LEVELS))
    lt = np.array([[c["levels"][lv]["target"] for lv in LEVELS] for c in per_case]).reshape(-1, len(LEVELS))
    patient_p = np.array([prior if c["patient_probability"] is None else c["patient_probability"] for c in per_case])
    kinds = sorted({e["kind"] for c in per_case for e in c["levels"].values() if e["target"] == 1 and e["kind"]})
    balanced = thresholds.get("balanced", {"level": 0.5})["level"]
    by_kind = {}
    for k in kinds:
        yk, pk = level_pairs(per_case, kind=k)
        by_kind[k] = {"auc": _rounded(roc_auc(yk, pk)), "positives": int(yk.sum()),
                      "sensitivity": _rounded(sensitivity_specificity(yk, pk, balanced)[0])}
    by_difficulty = {}
    for lo, hi, name in DIFFICULTY_BINS:
        yd, pd = level_pairs(per_case, difficulty=(lo, hi))
        by_difficulty[name] = {"auc": _rounded(roc_auc(yd, pd)), "positives": int(yd.sum()),
                               "levels": int(yd.size)}
    dice = [c["fracture_region_dice"] for c in per_case if c["fracture_region_dice"] is not None]
    positives = [e for c in per_case for e in c["levels"].values()
                 if e["target"] == 1 and e["probability"] is not None and e["probability"] >= balanced]
    tp = [e["pointing"] for e in positives if e.get("pointing") is not None]
    tp_peak = [e["peak_pointing"] for e in positives if e.get("peak_pointing") is not None]
    missed = sum(1 for c in per_case for e in c["levels"].values() if e["target"] >= 0 and e["probability"] is None)
    return {
        "auc": auc, "operating_points": points,
        "rsna_log_loss": _rounded(rsna_weighted_log_loss(lp, lt, patient_p, np.array([c["patient"] for c in per_case])))
        if per_case else None,
        "ece": {"level": _rounded(expected_calibration_error(y_all, p_all)),
                "patient": _rounded(expected_calibration_error(py, pp))},
        "ece_if_calibrated": {"level": _rounded_dict(ece_if_calibrated(y_all, p_all)),
                              "patient": _rounded_dict(ece_if_calibrated(py, pp))},
        "reliability": {"level": reliability_bins(y_all, p_all), "patient": reliability_bins(py, pp)},
        "by_kind": by_kind, "by_difficulty": by_difficulty,
        "fracture_region_dice": _rounded(np.mean(dice)) if dice else None,
        "gradcam_pointing_rate": _rounded(np.mean(tp)) if tp else None, "gradcam_true_positives": len(tp),
        "peak_pointing_rate": _rounded(np.mean(tp_peak)) if tp_peak else None,
        "levels_missed": missed,
    }


def write_rsna_submission(per_case: list[dict[str, Any]], path: str | os.PathLike, prior: float = 0.1) -> Path:
    """The RSNA 2022 submission CSV: ``row_id`` = ``<study>_C1`` … ``<study>_patient_overall``, ``fractured``.

    Levels without a prediction (not found by the segmentation) get ``prior``.
    """
    from ..io.staging import staged_file

    path = Path(path)
    with staged_file(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row_id", "fractured"])
        for c in per_case:
            for lv in LEVELS:
                p = c["levels"][lv]["probability"]
                w.writerow([f"{c['case']}_{lv}", f"{prior if p is None else p:.6f}"])
            p = c["patient_probability"]
            w.writerow([f"{c['case']}_patient_overall", f"{prior if p is None else p:.6f}"])
    return path


def format_classification(metrics: dict[str, Any]) -> str:
    """A short human-readable table of the classification metrics."""
    m = metrics
    lines = [f"model {m['model']['name']} {m['model']['version']} (trained on {m['model']['trained_on']}); "
             f"{m['cases']} cases from {m['data']}", "level  AUC    sens/spec (balanced)  sens/spec (triage)"]
    for lv in LEVELS:
        b = m["operating_points"].get("balanced", {}).get("per_level", {}).get(lv, {})
        t = m["operating_points"].get("triage", {}).get("per_level", {}).get(lv, {})
        lines.append(f"{lv:<6} {_fmt(m['auc'][lv]):<6} {_fmt(b.get('sensitivity'))}/{_fmt(b.get('specificity')):<14}"
                     f" {_fmt(t.get('sensitivity'))}/{_fmt(t.get('specificity'))}")
    lines += [f"macro AUC {_fmt(m['auc']['macro'])}  patient AUC {_fmt(m['auc']['patient'])}  "
              f"RSNA log loss {_fmt(m['rsna_log_loss'])}  ECE level {_fmt(m['ece']['level'])} patient "
              f"{_fmt(m['ece']['patient'])} (a perfectly calibrated model: {_floor(m, 'level')} / {_floor(m, 'patient')})",
              f"fracture-region Dice {_fmt(m['fracture_region_dice'])}  Grad-CAM pointing rate "
              f"{_fmt(m['gradcam_pointing_rate'])} ({m['gradcam_true_positives']} true positives)  "
              f"seconds per case {m['seconds_per_case']}"]
    return "\n".join(lines)


def _floor(m: dict[str, Any], key: str) -> str:
    f = m.get("ece_if_calibrated", {}).get(key)
    return "-" if f is None else f"{f['expected']:.3f}, p {f['p_value']:.2f}"


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


__all__ = ["POINTING_MM", "case_record", "evaluate_classification", "format_classification",
           "summarise_classification", "write_rsna_submission"]
