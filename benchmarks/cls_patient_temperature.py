"""Refit a classifier's patient temperature on more validation patients; write the weights with it.

The patient probability is the patient logit divided by a temperature fitted on validation
(``train.readout_choice.fit_readout``). This script fits a further temperature on the patient
probabilities that ``spinefracture evaluate --task classification --json`` wrote on validation
phantoms with the same weights (``train.readout_choice.refit_patient_temperature``): the patient
thresholds move with it, so every patient is called as before and only the probability shown
changes. Test files (fresh seeds, never fitted on) are summarised before and after.

    spinefracture evaluate --task classification --phantoms 192 --seed 1749200 --cache CACHE \
        --no-gradcam --json > VAL.json
    python benchmarks/cls_patient_temperature.py --val VAL.json [VAL2.json ...] [--test TEST.json ...] \
        [--model default] [--write-weights OUT.pt --version V [--name N]]

Prints one JSON object: the factor, the new temperature and thresholds, and per file the patient
AUC, ECE (with what a calibrated model would show, and its p-value), RSNA log loss and the
balanced patient sensitivity / specificity, before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from SpineFractureLib.models.classifier_weights import load_classifier, recalibrated_copy
from SpineFractureLib.pipeline.evaluate_cls import summarise_classification
from SpineFractureLib.train.readout_choice import refit_patient_temperature

log = logging.getLogger("cls_patient_temperature")


def read_evaluation(path: str, sha256: str) -> dict:
    """An ``evaluate --json`` output made with the weights of ``sha256`` (ValueError otherwise)."""
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict) or "per_case" not in d:
        raise ValueError("not an `spinefracture evaluate --task classification --json` output")
    if d.get("model", {}).get("sha256") != sha256:
        raise ValueError(f"made with other weights ({d.get('model', {}).get('sha256', '?')[:12]}), "
                         f"not those of --model ({sha256[:12]})")
    return d


def rescaled(per_case: list[dict], factor: float) -> list[dict]:
    """Case records with each patient probability's logit divided by ``factor``."""
    out = []
    for c in per_case:
        p = c["patient_probability"]
        if p is not None:
            q = float(np.clip(p, 1e-7, 1 - 1e-7))
            p = float(1.0 / (1.0 + np.exp(-np.log(q / (1 - q)) / factor)))
        out.append({**c, "patient_probability": p})
    return out


def patient_summary(per_case: list[dict], thresholds: dict, prior: float) -> dict:
    """The patient figures of :func:`summarise_classification` (and its RSNA log loss)."""
    m = summarise_classification(per_case, thresholds, prior)
    b = m["operating_points"]["balanced"]
    return {"patients": len(per_case), "patient_auc": m["auc"]["patient"], "patient_ece": m["ece"]["patient"],
            "ece_if_calibrated": m["ece_if_calibrated"]["patient"], "rsna_log_loss": m["rsna_log_loss"],
            "patient_sensitivity": b["patient_sensitivity"], "patient_specificity": b["patient_specificity"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", nargs="+", required=True, help="evaluate --json outputs on validation seeds")
    parser.add_argument("--test", nargs="*", default=[], help="evaluate --json outputs on fresh seeds (reported)")
    parser.add_argument("--model", default="default", help="the classifier the outputs were made with")
    parser.add_argument("--write-weights", metavar="OUT")
    parser.add_argument("--version", help="version of the written weights")
    parser.add_argument("--name")
    a = parser.parse_args()
    if a.write_weights and not a.version:
        parser.error("--write-weights needs --version")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    loaded = load_classifier(a.model)
    files = {}
    for path in a.val + a.test:
        try:
            files[path] = read_evaluation(path, loaded.info.sha256)
        except (OSError, ValueError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            return 2
    val = [c for path in a.val for c in files[path]["per_case"] if c["patient_probability"] is not None]
    source = "; ".join(files[p]["data"] for p in a.val)
    cal = loaded.calibration
    new = refit_patient_temperature(cal, np.array([c["patient_probability"] for c in val]),
                                    np.array([c["patient"] for c in val]), source)
    factor = new.patient_temperature / cal.patient_temperature
    prior = cal.validation.get("fractured_levels", 0) / max(1, cal.validation.get("levels", 0)) or 0.1
    report = {"model": f"{loaded.info.name} {loaded.info.version}", "validation": source, "factor": round(factor, 4),
              "patient_temperature": [round(cal.patient_temperature, 4), round(new.patient_temperature, 4)],
              "thresholds": [cal.thresholds, new.thresholds], "files": {}}
    for path, d in files.items():
        report["files"][path] = {"role": "validation" if path in a.val else "test", "data": d["data"],
                                 "before": patient_summary(d["per_case"], cal.thresholds, prior),
                                 "after": patient_summary(rescaled(d["per_case"], factor), new.thresholds, prior)}
    print(json.dumps(report, indent=1))
    if a.write_weights:
        digest = recalibrated_copy(a.model, a.write_weights, new, version=a.version, name=a.name, new_readout=False,
                                   note={"patient_temperature_refit_from": f"{loaded.info.name} {loaded.info.version} "
                                                                          f"on {source}"})
        log.info("wrote %s (sha256 %s)", a.write_weights, digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
