"""Calibration on a validation split: temperatures, operating points and the readout, chosen there.

The readout (:mod:`~SpineFractureLib.models.cls_readout`) is how the network's logits become
probabilities: with or without the mirrored ROIs' logits averaged in, and which patient source.
Each candidate is temperature-scaled on the validation cases; the one with the best validation
AUC wins (level macro AUC for the mirror, then patient AUC for the source), ties going to the
simpler readout (no mirror, the patient head). The heat map is chosen elsewhere (it needs the
true fracture regions: ``benchmarks/cls_inference_choice.py``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from ..constants import N_LEVELS
from ..metrics.classification import fit_logit_offset, fit_temperature, operating_points, roc_auc
from ..models.classifier_weights import Calibration
from ..models.cls_readout import CUT_ENDS, PATIENT_SOURCES, patient_probability, patient_raw_logit

log = logging.getLogger(__name__)


def case_logits(p: dict[str, Any], flip: bool) -> tuple[np.ndarray, float]:
    """One case's level logits (P,) and patient logit, averaged with the mirrored ROIs' if ``flip``.

    Args:
        p: a record of :func:`~SpineFractureLib.train.classification.predict_logits`.
        flip: average in ``level_logits_flip`` / ``patient_logit_flip``.
    """
    if not flip:
        return np.asarray(p["level_logits"], float), float(p["patient_logit"])
    return ((np.asarray(p["level_logits"], float) + np.asarray(p["level_logits_flip"], float)) / 2.0,
            (float(p["patient_logit"]) + float(p["patient_logit_flip"])) / 2.0)


def fit_readout(predictions: list[dict[str, Any]], flip: bool, source: str, validation: dict[str, Any]) -> Calibration:
    """Temperatures and operating points of one readout, fitted on validation logits.

    Args:
        predictions: validation records (see :func:`case_logits`).
        flip: average in the mirrored ROIs' logits.
        source: a member of :data:`~SpineFractureLib.models.cls_readout.PATIENT_SOURCES`.
        validation: what the split was (stored in the calibration).
    """
    lz, ly = _known_levels(predictions, flip)
    py = np.array([p["patient"] for p in predictions])
    t_level = fit_temperature(lz, ly)
    t_patient = fit_temperature(np.array([patient_raw_logit(source, *case_logits(p, flip), t_level)
                                          for p in predictions]), py)
    cal = Calibration(t_level, t_patient, validation=dict(validation), flip_average=flip, patient_source=source)
    return fit_thresholds(cal, predictions)


def fit_thresholds(cal: Calibration, predictions: list[dict[str, Any]]) -> Calibration:
    """``cal`` with its operating points fitted on ``predictions`` (temperatures and readout kept).

    The readout may be chosen on a pool of validation sets (default, porotic and dense bone) while
    the operating points are fitted on the default-density sets alone: fitted on the pool, the
    specificity floor served the porotic phantoms' intact levels and cost sensitivity on typical
    patients (session 42, classification card).

    Args:
        cal: a calibration from :func:`fit_readout` (changed in place and returned).
        predictions: validation records (see :func:`case_logits`).
    """
    lz, ly = _known_levels(predictions, cal.flip_average)
    py = np.array([p["patient"] for p in predictions])
    _, _, patient_p = readout_scores(predictions, cal)
    level_points = operating_points(ly, 1.0 / (1.0 + np.exp(-lz / cal.level_temperature)))
    # The specificity floor is for levels (a patient has up to seven intact ones, so level
    # specificity s gives 1 - s**7 of intact patients a false alarm); one patient is one decision,
    # and the floor cost M7's readout patient sensitivity 0.91 -> 0.80 on fresh phantoms (session 43).
    patient_points = operating_points(py, patient_p, min_specificity=0.0)
    cal.thresholds = {k: {"level": round(level_points[k], 6), "patient": round(patient_points[k], 6)}
                      for k in ("balanced", "triage")}
    return cal


def readout_scores(predictions: list[dict[str, Any]], cal: Calibration
                   ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per case, the level probabilities (P,) and targets (P,); and the patient probabilities."""
    probs, targets, patient = [], [], []
    for p in predictions:
        z, pz = case_logits(p, cal.flip_average)
        probs.append(1.0 / (1.0 + np.exp(-z / cal.level_temperature)))
        targets.append(np.asarray(p["targets"]))
        patient.append(patient_probability(cal.patient_source, z, pz, cal.level_temperature, cal.patient_temperature))
    return probs, targets, np.array(patient)


def per_level_auc(predictions: list[dict[str, Any]], cal: Calibration) -> list[float | None]:
    """Per level C1..C7, the AUC of the readout's probabilities (None without both classes)."""
    probs, targets, _ = readout_scores(predictions, cal)
    aucs = []
    for v in range(N_LEVELS):
        y = [t[i] for p, t in zip(predictions, targets) for i, lv in enumerate(p["levels"]) if lv == v and t[i] >= 0]
        s = [q[i] for p, q, t in zip(predictions, probs, targets) for i, lv in enumerate(p["levels"])
             if lv == v and t[i] >= 0]
        aucs.append(roc_auc(np.array(y), np.array(s)))
    return aucs


def macro_level_auc(predictions: list[dict[str, Any]], cal: Calibration) -> float | None:
    """Mean over C1..C7 of each level's AUC (levels with both classes only)."""
    aucs = [a for a in per_level_auc(predictions, cal) if a is not None]
    return float(np.mean(aucs)) if aucs else None


def choose_readout(predictions: list[dict[str, Any]], validation: dict[str, Any]) -> Calibration:
    """The calibration of the readout with the best validation AUC (see the module docstring).

    Args:
        predictions: validation records with ``level_logits_flip`` / ``patient_logit_flip``
            (without them, the mirror is not considered).
        validation: what the split was; the candidates' AUCs are added under ``readout_choice``.
    """
    flips = (False, True) if all("level_logits_flip" in p for p in predictions) else (False,)
    table: dict[str, dict[str, float | None]] = {}

    def score(value: float | None) -> float:
        return -1.0 if value is None else value

    best_flip, best_macro = False, -2.0
    for flip in flips:
        macro = macro_level_auc(predictions, fit_readout(predictions, flip, "head", validation))
        table[f"flip={flip}"] = {"macro_auc": None if macro is None else round(macro, 4)}
        if score(macro) > best_macro + 1e-9:
            best_flip, best_macro = flip, score(macro)
    py = np.array([p["patient"] for p in predictions])
    best, best_auc = None, -2.0
    for source in PATIENT_SOURCES:
        cal = fit_readout(predictions, best_flip, source, validation)
        auc = roc_auc(py, readout_scores(predictions, cal)[2])
        table[f"patient={source}"] = {"patient_auc": None if auc is None else round(auc, 4)}
        if score(auc) > best_auc + 1e-9:
            best, best_auc = cal, score(auc)
    best.validation["readout_choice"] = table
    log.info("readout chosen on validation: flip_average=%s patient_source=%s (%s)", best.flip_average,
             best.patient_source, table)
    return best


#: Validation cut levels of each class an end needs before its offset is fitted.
MIN_CUT_LEVELS_PER_CLASS = 5


def cut_logits(rows: list[dict[str, Any]], end: str) -> tuple[np.ndarray, np.ndarray]:
    """One end's cut levels of ``cls_fov_cut.py`` rows (cut made, target known): their calibrated
    logits before any cut offset (the row's ``applied_bias`` taken off), and their 0/1 targets."""
    done = [r for r in rows if r["end"] == end and r["cut"] is not None and r["target"] >= 0]
    p = np.clip(np.array([r["cut"] for r in done], float), 1e-7, 1 - 1e-7)
    z = np.log(p / (1 - p)) - np.array([float(r.get("applied_bias", 0.0)) for r in done])
    return z, np.array([r["target"] for r in done], float)


def fit_cut_bias(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per end of the scan, the logit offset that calibrates the levels its edge cuts (maximum likelihood).

    Args:
        rows: records of ``benchmarks/cls_fov_cut.py`` on validation cases: ``end`` (bottom/top),
            ``target`` (1, 0, or -1 unknown), ``cut`` (the cut level's probability, None where no
            cut was made) and ``applied_bias`` (the offset the classifier already gave it, 0 if absent).

    Returns:
        {end: offset}; an end with fewer than :data:`MIN_CUT_LEVELS_PER_CLASS` levels of either
        class is left out (its cut levels keep the whole-level reading).
    """
    out = {}
    for end in CUT_ENDS:
        z, y = cut_logits(rows, end)
        if min(int(y.sum()), int(len(y) - y.sum())) < MIN_CUT_LEVELS_PER_CLASS:
            log.warning("cut %s levels: %d fractured of %d, too few to fit an offset", end, int(y.sum()), len(y))
            continue
        out[end] = round(fit_logit_offset(z, y), 4)
        log.info("cut %s levels: %d (%d fractured), offset %.3f", end, len(y), int(y.sum()), out[end])
    return out


def rescaled_probability(p: float, factor: float) -> float:
    """``p`` with its logit divided by ``factor`` (a further temperature; p clipped 1e-7 from 0 and 1)."""
    q = float(np.clip(p, 1e-7, 1.0 - 1e-7))
    return float(1.0 / (1.0 + np.exp(-np.log(q / (1.0 - q)) / factor)))


def refit_temperature(cal: Calibration, target: str, probs: np.ndarray, targets: np.ndarray,
                      source: str = "") -> Calibration:
    """``cal`` with its ``patient`` or ``level`` temperature refitted on more validation data, decisions unchanged.

    The probabilities are the weights' own (``evaluate --json``), so their logits are the raw
    logits divided by the current temperature; a temperature fitted on those divides them further.
    That target's thresholds are moved with it (a monotone map: every patient or level is called as
    before, only the probability shown changes). Why not refit the thresholds too: on 0.4.0 a
    patient Youden point refitted on 288 validation patients fell from 0.36 to 0.22 (in the old
    units), called the real head-and-neck series' patient under a -100 HU probe and halved the
    specificity on porotic and coarse phantoms (session 46). The patient readouts other than
    ``noisy_or`` do not read the level temperature, so a level refit leaves them as they are.

    Args:
        cal: the weights' calibration (not changed).
        target: ``patient`` or ``level``.
        probs: (N,) the weights' probabilities on validation patients (or their levels of known truth).
        targets: (N,) their 0/1 targets.
        source: what the validation data are (recorded in ``cal.validation``).

    Returns:
        A new Calibration (the other target's temperature and thresholds, and the readout, as in ``cal``).
    """
    if target not in ("patient", "level"):
        raise ValueError(f"target must be 'patient' or 'level', got {target!r}")
    if target == "level" and (cal.patient_source == "noisy_or" or cal.cut_level_bias):
        # both read the level temperature's units: a noisy-OR combines calibrated level probabilities,
        # and the cut offsets are calibrated logits (fitted after it)
        raise ValueError("a noisy-OR patient readout or cut-level offsets read the level temperature: "
                         "refit the readout with train-cls or cls_inference_choice.py instead")
    p = np.clip(np.asarray(probs, float), 1e-7, 1.0 - 1e-7)
    t = fit_temperature(np.log(p / (1.0 - p)), np.asarray(targets, float))
    thresholds = {point: dict(v) for point, v in cal.thresholds.items()}
    for v in thresholds.values():
        # not rounded: a case within rounding of the old threshold must stay on its side
        v[target] = rescaled_probability(v[target], t)
    key = f"{target}_temperature"
    old = getattr(cal, key)
    log.info("%s temperature %.4f -> %.4f on %d validation %ss", target, old, old * t, len(p), target)
    return replace(cal, **{key: old * t}, thresholds=thresholds,
                   validation={**cal.validation, f"{key}_refit": {
                       "source": source, f"{target}s": int(len(p)), "factor": round(float(t), 4)}})


def _known_levels(predictions: list[dict[str, Any]], flip: bool) -> tuple[np.ndarray, np.ndarray]:
    lz, ly = [], []
    for p in predictions:
        z, _ = case_logits(p, flip)
        for zz, y in zip(z, p["targets"]):
            if y >= 0:
                lz.append(zz)
                ly.append(y)
    return np.array(lz), np.array(ly)


__all__ = ["MIN_CUT_LEVELS_PER_CLASS", "case_logits", "choose_readout", "cut_logits", "fit_cut_bias", "fit_readout", "fit_thresholds", "macro_level_auc", "per_level_auc", "readout_scores", "refit_temperature", "rescaled_probability"]
