"""Refit a classifier's patient and level temperatures on more validation data; write the weights with them.

The level and patient probabilities are logits divided by temperatures fitted on validation
(``train.readout_choice.fit_readout``). This script fits a further temperature on the
probabilities that ``spinefracture evaluate --task classification --json`` wrote on validation
phantoms with the same weights (``train.readout_choice.refit_temperature``): the thresholds move
with it, so every patient and level is called as before and only the probability shown changes.
Test files (fresh seeds, never fitted on) are summarised before and after.

    spinefracture evaluate --task classification --phantoms 192 --seed 1749200 --cache CACHE \
        --no-gradcam --json > VAL.json
    python benchmarks/cls_refit_temperatures.py --val VAL.json [VAL2.json ...] [--test TEST.json ...] \
        [--targets patient level] [--model default] [--write-weights OUT.pt --version V [--name N]]

Prints one JSON object: the factors, the new temperatures and thresholds, and per file the level
and patient AUC, ECE (with what a calibrated model would show, and its p-value), RSNA log loss
and balanced sensitivity / specificity, before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from SpineFractureLib.models.classifier_weights import load_classifier, recalibrated_copy
from SpineFractureLib.pipeline.evaluate_cls import summarise_classification
from SpineFractureLib.metrics.classification import level_pairs
from SpineFractureLib.train.readout_choice import refit_temperature, rescaled_probability

log = logging.getLogger("cls_refit_temperatures")


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


def _scaled(p: float | None, factor: float) -> float | None:
    return None if p is None else rescaled_probability(p, factor)


def rescaled(per_case: list[dict], factors: dict[str, float]) -> list[dict]:
    """Case records with each patient (level) probability's logit divided by ``factors["patient"]``
    (``factors["level"]``; a missing factor: 1)."""
    fp, fl = factors.get("patient", 1.0), factors.get("level", 1.0)
    return [{**c, "patient_probability": _scaled(c["patient_probability"], fp),
             "levels": {lv: {**e, "probability": _scaled(e["probability"], fl)} for lv, e in c["levels"].items()}}
            for c in per_case]


def summary(per_case: list[dict], thresholds: dict, prior: float) -> dict:
    """The level and patient figures of :func:`summarise_classification` (and its RSNA log loss)."""
    m = summarise_classification(per_case, thresholds, prior)
    b = m["operating_points"]["balanced"]
    return {"patients": len(per_case), "macro_auc": m["auc"]["macro"], "patient_auc": m["auc"]["patient"],
            "level_ece": m["ece"]["level"], "patient_ece": m["ece"]["patient"],
            "ece_if_calibrated": m["ece_if_calibrated"], "rsna_log_loss": m["rsna_log_loss"],
            "sensitivity": b["sensitivity"], "specificity": b["specificity"],
            "patient_sensitivity": b["patient_sensitivity"], "patient_specificity": b["patient_specificity"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", nargs="+", required=True, help="evaluate --json outputs on validation seeds")
    parser.add_argument("--test", nargs="*", default=[], help="evaluate --json outputs on fresh seeds (reported)")
    parser.add_argument("--targets", nargs="+", choices=("patient", "level"), default=["patient", "level"],
                        help="which temperatures to refit (default both)")
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
    val = [c for path in a.val for c in files[path]["per_case"]]
    source = "; ".join(files[p]["data"] for p in a.val)
    cal = new = loaded.calibration
    factors = {}
    for target in a.targets:
        if target == "patient":
            known = [c for c in val if c["patient_probability"] is not None]
            probs, y = [c["patient_probability"] for c in known], [c["patient"] for c in known]
        else:
            y, probs = level_pairs(val)
        new = refit_temperature(new, target, np.array(probs), np.array(y), source)
        factors[target] = getattr(new, f"{target}_temperature") / getattr(cal, f"{target}_temperature")
    prior = cal.validation.get("fractured_levels", 0) / max(1, cal.validation.get("levels", 0)) or 0.1
    report = {"model": f"{loaded.info.name} {loaded.info.version}", "validation": source,
              "factors": {k: round(v, 4) for k, v in factors.items()},
              "temperatures": {t: [round(getattr(c, f"{t}_temperature"), 4) for c in (cal, new)] for t in ("level", "patient")},
              "thresholds": [cal.thresholds, new.thresholds], "files": {}}
    for path, d in files.items():
        report["files"][path] = {"role": "validation" if path in a.val else "test", "data": d["data"],
                                 "before": summary(d["per_case"], cal.thresholds, prior),
                                 "after": summary(rescaled(d["per_case"], factors), new.thresholds, prior)}
    print(json.dumps(report, indent=1))
    if a.write_weights:
        digest = recalibrated_copy(a.model, a.write_weights, new, version=a.version, name=a.name, new_readout=False,
                                   note={"temperatures_refit_from": f"{loaded.info.name} {loaded.info.version} "
                                                                    f"({', '.join(a.targets)}) on {source}"})
        log.info("wrote %s (sha256 %s)", a.write_weights, digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
