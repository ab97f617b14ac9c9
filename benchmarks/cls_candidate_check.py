"""Apply the ship criteria to a candidate classifier's benchmark outputs against the shipped pair's.

Each option takes the candidate's file, then the baseline's, measured on the same seeds:

    python benchmarks/cls_candidate_check.py \\
        --default eval-M.json eval-S.json \\
        --porotic porotic-M.json porotic-S.json --dense dense-M.json dense-S.json \\
        --coarse coarse-mesh-M.json coarse-mesh-S.json --coarse coarse-proc-M.json coarse-proc-S.json \\
        --fov fov-proc-M.json fov-proc-S.json --fov fov-mesh-M.json fov-mesh-S.json \\
        --cut cut-M.json cut-S.json --real real-M.json real-S.json

``--default``: ``spinefracture evaluate --task classification --json``; ``--porotic``, ``--dense``,
``--coarse``, ``--fov`` (repeat to pool): ``cls_per_fov.py --json`` (every field-of-view kind in a file
is pooled; ``--fov``: every kind, procedural and ``--anatomy mesh``); ``--cut``: ``cls_fov_cut.py --json`` (the same held-out seeds for both); ``--real``:
``cls_real_series.py --probes --json`` holding one classifier's rows. Prints a
markdown table (criteria and margins: ``SpineFractureLib.metrics.candidate_check``); exit status 0
only if every criterion was measured and passed, 1 otherwise, 2 for a file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from SpineFractureLib.metrics.candidate_check import check_candidate, shippable


def _load(path: str, what: str):
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        sys.exit(_fail(f"{path}: cannot read the {what} output ({err})"))
    evaluations = list(data.values()) if what == "cls_per_fov.py" and isinstance(data, dict) else [data]
    if what == "cls_fov_cut.py":
        if not (isinstance(data, list) and all(isinstance(row, dict) and {"end", "target", "cut", "threshold"} <= row.keys() for row in data)):
            sys.exit(_fail(f"{path}: not a cls_fov_cut.py --json output (rows with end, target, cut, threshold)"))
        return data
    if what == "cls_real_series.py":
        if not (isinstance(data, list) and all("probe" in row for row in data)):
            sys.exit(_fail(f"{path}: not a cls_real_series.py --json output (a list of probe rows)"))
        if len({row["classifier"] for row in data}) != 1:
            sys.exit(_fail(f"{path}: holds rows of several classifiers; run cls_real_series.py with one"))
        return data
    if not all(isinstance(m, dict) and {"per_case", "auc", "operating_points"} <= m.keys() for m in evaluations):
        sys.exit(_fail(f"{path}: not {what} --json output (an evaluation with per_case, auc, operating_points)"))
    return evaluations if what == "cls_per_fov.py" else data


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    pair = {"nargs": 2, "metavar": ("CANDIDATE", "BASELINE")}
    parser.add_argument("--default", **pair)
    for name in ("porotic", "dense", "coarse", "fov"):
        parser.add_argument(f"--{name}", action="append", default=[], **pair)
    parser.add_argument("--cut", **pair)
    parser.add_argument("--real", **pair)
    args = parser.parse_args()
    sides: tuple[dict, dict] = ({}, {})
    for i, side in enumerate(sides):
        if args.default:
            side["default"] = _load(args.default[i], "evaluate")
        for name in ("porotic", "dense", "coarse", "fov"):
            side[name] = [m for files in getattr(args, name) for m in _load(files[i], "cls_per_fov.py")]
        if args.cut:
            side["cut"] = _load(args.cut[i], "cls_fov_cut.py")
        if args.real:
            side["real"] = _load(args.real[i], "cls_real_series.py")
    criteria = check_candidate(*sides)
    print("| criterion | candidate | baseline | verdict |\n|---|---|---|---|")
    print("\n".join(c.row() for c in criteria))
    ok = shippable(criteria)
    print(f"\nverdict: {'shippable' if ok else 'not shippable'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
