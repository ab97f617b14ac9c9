"""Scans that end a few millimetres into T1: is T1 called "C7" (and C7 "C6")?

Session 48 found 0.6.0 naming T1 "C7" and C7 "C6" on fresh neck phantom 1880001 (12 mm of T1 in
the scan) and validation head-and-neck 1749396 (5 mm): the worst kind of error, a level invented
where there is none. This benchmark makes the picture on purpose: each phantom's scan is cut
``d`` mm below T1's highest voxel (the slices below removed, as a scan that stops there), for each
``--into`` depth, and segmented by every ``--model`` (the same cut scans for all):

    python benchmarks/seg_t1_cut.py --phantoms 12 --seed 1749564 [--fov neck] [--anatomy mesh]
        [--into 4 8 12] [--model default --model CANDIDATE.pt] [--json OUT.json]

Prints a markdown table per model and depth: cut scans, C7 identified (centroid within
``IDENTIFICATION_MM`` of the truth's), C6 identified, **T1 called cervical** (scans where at least
:data:`CALLED_SHARE` of T1's voxels in view carry a cervical label; the label most of them get is
listed per case in the JSON), and levels misnamed (in view, reported, not identified). Phantoms
whose scan does not reach ``d`` mm below T1's top are left out of that depth. Use seeds no model
trained on.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
from pathlib import Path

import numpy as np

from SpineFractureLib.constants import LEVELS, T1_LABEL as T1
from SpineFractureLib.data.case import LabelledCase
from SpineFractureLib.data.phantom_loaders import phantom_loaders
from SpineFractureLib.metrics.segmentation import level_agreement
from SpineFractureLib.pipeline.segment import Segmenter

#: Share of T1's voxels in view labelled cervical above which T1 counts as called a cervical level.
CALLED_SHARE = 0.2


def cut_into_t1(case: LabelledCase, depth_mm: float) -> LabelledCase | None:
    """The case as a scan whose lowest slice lies ``depth_mm`` below T1's highest voxel, or None.

    None where the case labels no T1 or its scan ends less than ``depth_mm`` below T1's top.
    Arrays are (z, y, x) with z towards the head (the phantoms' identity direction).
    """
    rows = np.flatnonzero((case.labels.array == T1).any(axis=(1, 2)))
    if not rows.size:
        return None
    first = int(rows[-1]) - int(round(depth_mm / case.ct.spacing[2]))
    if first <= 0:
        return None
    hi = case.ct.array.shape
    ct = case.ct.sub_volume((first, 0, 0), hi)
    labels = case.labels.sub_volume((first, 0, 0), hi)
    return LabelledCase(f"{case.case_id}-t1cut{depth_mm:g}", ct, labels)


def score(pred: np.ndarray, case: LabelledCase) -> dict:
    """Agreement of one cut scan's predicted labels with its truth, and what T1 was called."""
    truth = case.labels.array
    levels = level_agreement(case.labels.with_array(pred), case.labels.with_array(case.cervical_labels()))
    t1 = truth == T1
    called = pred[t1]
    cervical = called[called > 0]
    share = float(cervical.size / max(1, called.size))
    majority = LEVELS[int(np.bincount(cervical).argmax()) - 1] if cervical.size else None
    return {"case": case.case_id, "t1_voxels": int(t1.sum()), "t1_cervical_share": round(share, 3),
            "t1_called": majority if share >= CALLED_SHARE else None,
            "misnamed": [lv for lv, v in levels.items() if v["present"] and v["reported"] and not v["identified"]],
            "levels": levels}


def run(models: list[str], seeds: range, config: dict, depths: list[float]) -> dict[str, dict[str, list[dict]]]:
    """{model: {depth: [per-case scores]}} over the phantoms of ``seeds`` cut at each depth."""
    segmenters = {m: Segmenter(m, "cpu") for m in models}
    out: dict[str, dict[str, list[dict]]] = {m: collections.defaultdict(list) for m in models}
    for _key, load in phantom_loaders(seeds, config):
        case = load()
        for d in depths:
            cut = cut_into_t1(case, d)
            if cut is None:
                continue
            for m, seg in segmenters.items():
                pred = seg.segment(cut.ct).labels.array
                out[m][f"{d:g}"].append(score(pred, cut))
                logging.info("%s %s: T1 called %s, misnamed %s", m, cut.case_id, out[m][f"{d:g}"][-1]["t1_called"],
                             out[m][f"{d:g}"][-1]["misnamed"])
    return {m: dict(v) for m, v in out.items()}


def table(results: dict[str, dict[str, list[dict]]]) -> str:
    """Markdown: one row per model and depth."""
    rows = ["| model | mm into T1 | cut scans | C7 identified | C6 identified | T1 called cervical | levels misnamed |",
            "|---|---|---|---|---|---|---|"]

    def ident(cases: list[dict], lv: str) -> str:
        present = [c["levels"][lv] for c in cases if c["levels"][lv]["present"]]
        return f"{sum(bool(v['identified']) for v in present)}/{len(present)}"

    for m, by_depth in results.items():
        for d, cases in by_depth.items():
            called = [c for c in cases if c["t1_called"]]
            names = collections.Counter(c["t1_called"] for c in called)
            rows.append(f"| {m} | {d} | {len(cases)} | {ident(cases, 'C7')} | {ident(cases, 'C6')} "
                        f"| {len(called)} {dict(names) if names else ''} | {sum(len(c['misnamed']) for c in cases)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phantoms", type=int, default=12)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--fov", default="neck", choices=("neck", "head-neck", "whole-body"))
    parser.add_argument("--anatomy", default="procedural", choices=("procedural", "mesh"))
    parser.add_argument("--into", type=float, nargs="+", default=[4.0, 8.0, 12.0], metavar="MM")
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = run(args.model or ["default"], range(args.seed, args.seed + args.phantoms),
                  {"fov": args.fov, "anatomy": args.anatomy}, args.into)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
