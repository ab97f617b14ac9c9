"""How a classifier's verdict moves with bone density alone (held-out phantoms).

Every prepared phantom is classified as drawn and with its bone made denser or less dense
(``train.bone_density.shift_bone_density``: soft tissue unchanged, cortex by the whole shift,
cancellous bone by part of it), the masks and the fracture map as segmented. A classifier that
reads fractures, not density, calls the same levels at every shift. Session 37 found the real
head-and-neck series and the phantoms answering this probe in opposite directions
(``cls_real_series.py --probes``); this measures the phantoms' side for any model.

    python benchmarks/cls_bone_density.py --cache CACHE --seeds 901208 48 --model default [--model M.pt] \
        [--shifts -200 -100 0 150 250] [--phantom-config JSON] [--json OUT]

Prints per model and shift: intact and fractured levels over the model's balanced level threshold
(false-call rate and sensitivity), the mean intact probability and the level AUC.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch

from SpineFractureLib.metrics.classification import roc_auc
from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.train.bone_density import shift_bone_density

from cls_fov_cut import held_out_cases

log = logging.getLogger("cls_bone_density")


def density_records(clf: Classifier, sample, shifts: list[float]) -> list[dict]:
    """Each present level's probability at each bone-density shift (HU)."""
    hu = sample.hu.astype(np.float32)
    fracture = sample.fracture_prob.astype(np.float32) / 255.0
    rows = []
    for shift in shifts:
        p = clf.classify(shift_bone_density(hu, shift), sample.predicted, fracture, gradcam=False).probabilities
        rows += [{"case": sample.case_id, "level": lv, "shift": shift, "target": int(sample.fractured[lv - 1]),
                  "p": p[lv - 1]} for lv in range(1, 8) if p[lv - 1] is not None]
    return rows


def summary(rows: list[dict], threshold: float) -> dict:
    """Call rates, mean intact probability and AUC over the records with a known target."""
    done = [r for r in rows if r["target"] >= 0]
    t = np.array([r["target"] for r in done])
    p = np.array([r["p"] for r in done], float)
    return {"levels": len(done), "fractured": int(t.sum()),
            "intact_called": round(float((p[t == 0] >= threshold).mean()), 3) if (t == 0).any() else None,
            "fractured_called": round(float((p[t == 1] >= threshold).mean()), 3) if (t == 1).any() else None,
            "intact_mean": round(float(p[t == 0].mean()), 3) if (t == 0).any() else None,
            "auc": round(roc_auc(t, p), 3) if 0 < t.sum() < len(t) else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--seeds", nargs=2, type=int, required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--model", action="append", help="registered name or model file; repeatable (default: default)")
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--shifts", nargs="+", type=float, default=[-200.0, -100.0, 0.0, 150.0, 250.0],
                        help="bone-density changes (HU at the cortex)")
    parser.add_argument("--phantom-config", type=json.loads, default=None)
    parser.add_argument("--json", help="also write the per-level records here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    cache = held_out_cases(args.cache, args.seeds, args.phantom_config, args.segmentation)
    report, records = {"seeds": args.seeds, "shifts_hu": args.shifts, "models": {}}, {}
    for model in args.model or ["default"]:
        clf = Classifier(model, "cpu")
        threshold = clf.loaded.calibration.threshold("balanced", "level")
        rows = [r for i in range(len(cache)) for r in density_records(clf, cache[i], args.shifts)]
        report["models"][model] = {"name": f"{clf.model_info.name} {clf.model_info.version}",
                                   "threshold": round(threshold, 3),
                                   **{f"{s:+g} HU": summary([r for r in rows if r["shift"] == s], threshold)
                                      for s in args.shifts}}
        records[model] = rows
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f)


if __name__ == "__main__":
    main()
