"""Fit a classifier's cut-level offsets on validation cut levels and write the weights with them.

A level that the scan's edge cuts is read with its end's logit offset
(``models.cls_readout.cut_level_offsets``); this script fits the offsets by maximum likelihood
(``train.readout_choice.fit_cut_bias``) on the records of ``cls_fov_cut.py --json`` made on
validation phantoms with the same classifier, and writes a copy of the weights whose calibration
carries them (network, temperatures and thresholds unchanged).

    python benchmarks/cls_fov_cut.py --cache CACHE --seeds 810000 96 --model M --json VAL.json
    python benchmarks/cls_cut_bias.py --rows VAL.json --model M --write-weights OUT.pt --version V \
        [--name N] [--rows-from "phantoms 810000..810095"]

Prints the offsets and, on the validation rows, the cut levels' intact-called rate and
sensitivity at the balanced level threshold before and after (in-sample: judge on fresh seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

import numpy as np

from SpineFractureLib.models.classifier_weights import load_classifier, recalibrated_copy
from SpineFractureLib.train.readout_choice import cut_logits, fit_cut_bias

log = logging.getLogger("cls_cut_bias")


def rates_at(rows: list[dict], biases: dict[str, float], threshold: float) -> dict:
    """Per end: intact called and fractured called (share) at ``threshold`` with ``biases`` applied."""
    out = {}
    for end in sorted({r["end"] for r in rows}):
        z, t = cut_logits(rows, end)
        if not len(t):
            continue
        called = 1 / (1 + np.exp(-(z + biases.get(end, 0.0)))) >= threshold
        out[end] = {"levels": len(t), "fractured": int(t.sum()),
                    "intact_called": round(float(called[t == 0].mean()), 3) if (t == 0).any() else None,
                    "sensitivity": round(float(called[t == 1].mean()), 3) if (t == 1).any() else None}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", required=True, help="cls_fov_cut.py --json records on validation phantoms")
    parser.add_argument("--model", default="default", help="the classifier the rows were made with")
    parser.add_argument("--write-weights", metavar="OUT")
    parser.add_argument("--version", help="version of the written weights")
    parser.add_argument("--name")
    parser.add_argument("--rows-from", default="", help="what the validation rows are (recorded in the weights)")
    a = parser.parse_args()
    if a.write_weights and not a.version:
        parser.error("--write-weights needs --version")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        with open(a.rows) as f:
            rows = json.load(f)
        if not isinstance(rows, list) or not all(isinstance(r, dict) and {"end", "cut", "target"} <= set(r)
                                                 for r in rows):
            raise ValueError("not a list of cls_fov_cut.py records")
    except (OSError, ValueError) as err:
        print(f"{a.rows}: {err}", file=sys.stderr)
        return 2
    loaded = load_classifier(a.model)
    biases = fit_cut_bias(rows)
    threshold = loaded.calibration.threshold("balanced", "level")
    print(json.dumps({"model": f"{loaded.info.name} {loaded.info.version}", "cut_level_bias": biases,
                      "threshold": round(threshold, 3), "validation_before": rates_at(rows, {}, threshold),
                      "validation_after": rates_at(rows, biases, threshold)}, indent=1))
    if a.write_weights:
        source = a.rows_from or a.rows
        cal = dataclasses.replace(loaded.calibration, cut_level_bias=biases,
                                  validation={**loaded.calibration.validation, "cut_bias_from": source})
        digest = recalibrated_copy(a.model, a.write_weights, cal, version=a.version, name=a.name, new_readout=False,
                                   note={"cut_level_bias_from": f"{loaded.info.name} {loaded.info.version} "
                                                                f"on {source}"})
        log.info("wrote %s (sha256 %s)", a.write_weights, digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
