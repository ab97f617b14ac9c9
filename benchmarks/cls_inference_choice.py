"""Choose, on validation phantoms only, how the shipped classifier's outputs become probabilities and peaks.

The network's weights stay as they are; what is compared is inference around it:

- levels: the logits as they are, or averaged with those of the left-right mirrored ROIs
  (test-time flip; training already flips half of the cases, so the mirror is in distribution);
- patient: the patient head's logit, the largest level logit, the mean of the two, or the
  noisy-OR of the calibrated level probabilities; each temperature-scaled on validation;
- heat map: Grad-CAM alone, or Grad-CAM times the fracture-region head's probability
  (the region head points at the fracture on 96 % of true positives; Grad-CAM on 70 %).

The choice is made on the validation seeds; the test seeds are then measured once with it.

    python benchmarks/cls_inference_choice.py --cache CACHE [--val 810000 48] [--test 900000 48] [--out choice.json]

Prints one JSON object: per option its validation macro / patient AUC, ECE, RSNA log loss and
pointing rate, the chosen options, and the test figures of the chosen and of today's inference.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch

from SpineFractureLib.constants import LEVELS, N_LEVELS
from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.phantom_loaders import phantom_loaders
from SpineFractureLib.metrics.classification import (
    expected_calibration_error,
    fit_temperature,
    operating_points,
    roc_auc,
    rsna_weighted_log_loss,
)
from SpineFractureLib.models.classifier_weights import load_classifier
from SpineFractureLib.models.cls_readout import HEATMAPS, PATIENT_SOURCES, mirrored, patient_probability, \
    patient_raw_logit, readout_heat
from SpineFractureLib.models.gradcam import gradcam_maps
from SpineFractureLib.models.registry import segmenter_tag
from SpineFractureLib.pipeline.classify import _peaks, region_maps
from SpineFractureLib.pipeline.evaluate_cls import _points_at_fracture
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.roi import RoiInputs, extract_rois

log = logging.getLogger("cls_inference_choice")


def raw_outputs(model: str, first: int, count: int, cache: str) -> list[dict]:
    """Per case: truth, level logits (plain and mirrored), patient logits, and each heat option's pointing."""
    loaded = load_classifier(model)
    net = loaded.network
    store = ClsCache(phantom_loaders(range(first, first + count), None), cache, lambda: Segmenter("default", "cpu"),
                     tag=segmenter_tag("default"))
    cases = []
    for i in range(len(store)):
        s = store[i]
        rois = extract_rois(s.hu, s.predicted, s.fracture_prob.astype(np.float32) / 255.0)
        RoiInputs(int(loaded.inputs.get("windows", 3)), bool(loaded.inputs.get("fracture_input", True))).apply(rois.channels)
        if len(rois.levels) == 0:
            continue
        x, lv = torch.from_numpy(rois.channels), torch.from_numpy(rois.levels)
        with torch.no_grad():
            z, pz, region = net(x, lv, with_region=True)
            zf, pzf = net(mirrored(x), lv)
        cam = gradcam_maps(net, x, lv)
        reg = region_maps(region, tuple(x.shape[2:]))
        pointing = {}
        for name in HEATMAPS:
            peaks = _peaks(readout_heat(name, cam, reg), rois.starts, rois.levels, s.predicted)
            pointing[name] = {int(v): (_points_at_fracture(s, int(v) + 1, peaks[int(v)])
                                       if s.fractured[int(v)] == 1 and s.fracture_truth is not None else None)
                              for v in rois.levels}
        cases.append({"case": s.case_id, "levels": rois.levels.tolist(), "targets": s.fractured.tolist(),
                      "z": z.numpy().tolist(), "z_flip": zf.numpy().tolist(), "pz": float(pz), "pz_flip": float(pzf),
                      "patient": int((s.fractured == 1).any()), "pointing": pointing})
        log.info("%s done (%d/%d)", s.case_id, i + 1, len(store))
    return cases


def _logits(c: dict, tta: bool) -> tuple[np.ndarray, float]:
    """A case's level logits and patient logit, averaged with the mirrored ROIs' with ``tta``."""
    if not tta:
        return np.asarray(c["z"]), c["pz"]
    return (np.asarray(c["z"]) + np.asarray(c["z_flip"])) / 2.0, (c["pz"] + c["pz_flip"]) / 2.0


def _scores(cases: list[dict], tta: bool, patient: str, t_level: float, t_patient: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """Level (y, p) pairs, patient (y, p), and per-case {level index: probability} rows."""
    ly, lp, py, pp, rows = [], [], [], [], []
    for c in cases:
        z, pz = _logits(c, tta)
        probs = 1.0 / (1.0 + np.exp(-z / t_level))
        row = {}
        for v, p in zip(c["levels"], probs):
            if c["targets"][v] >= 0:
                ly.append(c["targets"][v])
                lp.append(float(p))
            row[v] = float(p)
        py.append(c["patient"])
        pp.append(patient_probability(patient, z, pz, t_level, t_patient))
        rows.append(row)
    return np.array(ly), np.array(lp), np.array(py), np.array(pp), rows


def fit(cases: list[dict], tta: bool, patient: str) -> tuple[float, float, float]:
    """Level and patient temperatures and the balanced level threshold, fitted on ``cases`` (validation)."""
    lz, ly = [], []
    for c in cases:
        z, _ = _logits(c, tta)
        for v, zz in zip(c["levels"], z):
            if c["targets"][v] >= 0:
                lz.append(zz)
                ly.append(c["targets"][v])
    t_level = fit_temperature(np.array(lz), np.array(ly))
    balanced = operating_points(np.array(ly), 1.0 / (1.0 + np.exp(-np.array(lz) / t_level)))["balanced"]
    if patient == "noisy_or":
        return t_level, 1.0, balanced
    pz = np.array([patient_raw_logit(patient, *_logits(c, tta)) for c in cases])
    return t_level, fit_temperature(pz, np.array([c["patient"] for c in cases])), balanced


def metrics(cases: list[dict], tta: bool, patient: str, heat: str, fitted: tuple[float, float, float]) -> dict:
    """Macro and patient AUC, ECE, RSNA log loss and pointing rate of one option on ``cases``.

    ``fitted``: level and patient temperatures and the balanced level threshold, from validation.
    """
    t_level, t_patient, balanced = fitted
    ly, lp, py, pp, rows = _scores(cases, tta, patient, t_level, t_patient)
    per_level = []
    for v in range(N_LEVELS):
        y = [c["targets"][v] for c, r in zip(cases, rows) if v in r and c["targets"][v] >= 0]
        p = [r[v] for c, r in zip(cases, rows) if v in r and c["targets"][v] >= 0]
        a = roc_auc(np.array(y), np.array(p))
        per_level.append(a)
    have = [a for a in per_level if a is not None]
    prior = float(ly.mean()) if ly.size else 0.1
    lp_full = np.array([[r.get(v, prior) for v in range(N_LEVELS)] for r in rows])
    lt_full = np.array([c["targets"] for c in cases])
    hits = [c["pointing"][heat][v] for c, r in zip(cases, rows)
            for v, p in r.items() if c["targets"][v] == 1 and p >= balanced]
    hits = [h for h in hits if h is not None]
    return {"macro_auc": round(float(np.mean(have)), 4), "per_level_auc": dict(zip(LEVELS, [None if a is None else
            round(a, 3) for a in per_level])), "patient_auc": round(roc_auc(py, pp), 4),
            "ece_level": round(expected_calibration_error(ly, lp), 4),
            "ece_patient": round(expected_calibration_error(py, pp), 4),
            "rsna_log_loss": round(rsna_weighted_log_loss(lp_full, lt_full, pp, py), 4),
            "pointing": round(float(np.mean(hits)), 4) if hits else None, "true_positives": len(hits),
            "temperatures": [round(t_level, 4), round(t_patient, 4)], "balanced_threshold": round(balanced, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--model", default="default")
    parser.add_argument("--val", nargs=2, type=int, default=(810000, 48))
    parser.add_argument("--test", nargs=2, type=int, default=(900000, 48))
    parser.add_argument("--out", help="also write the raw per-case outputs here (JSON)")
    a = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    val = raw_outputs(a.model, *a.val, a.cache)
    table = {}
    for tta in (False, True):
        for patient in PATIENT_SOURCES:
            fitted = fit(val, tta, patient)
            for heat in HEATMAPS:
                table[f"tta={tta} patient={patient} heat={heat}"] = metrics(val, tta, patient, heat, fitted)
    # Levels and patient by validation AUC (macro, then patient), heat by validation pointing.
    best_tta = max((False, True), key=lambda t: table[f"tta={t} patient=head heat=gradcam"]["macro_auc"])
    best_patient = max(PATIENT_SOURCES, key=lambda p: table[f"tta={best_tta} patient={p} heat=gradcam"]["patient_auc"])
    best_heat = max(HEATMAPS, key=lambda h: table[f"tta={best_tta} patient={best_patient} heat={h}"]["pointing"] or 0)
    chosen = {"tta": best_tta, "patient": best_patient, "heat": best_heat}
    test = raw_outputs(a.model, *a.test, a.cache)
    result = {"validation": table, "chosen_on_validation": chosen,
              "test_chosen": metrics(test, best_tta, best_patient, best_heat, fit(val, best_tta, best_patient)),
              "test_today": metrics(test, False, "head", "gradcam", fit(val, False, "head")),
              "val_seeds": list(a.val), "test_seeds": list(a.test)}
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"validation": val, "test": test}, f)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
