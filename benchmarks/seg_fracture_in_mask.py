"""How much of each true fracture the segmentation's level mask keeps, per fracture kind.

The classifier reads each level through its predicted mask: a fragment or gap the mask leaves out
is a fracture the classifier is not shown as that level's. Session 47 found 0.6.0 leaving displaced
dens fractures out of C2's mask (on 1866001 C2's mask ends 13 mm under the true C2 top). Each
phantom is segmented once (the classifier's case cache, so ``cls_per_fov.py`` and ``evaluate``
runs with the same cache reuse it):

    python benchmarks/seg_fracture_in_mask.py --seeds 1866000 24 --cache CACHE \
        [--phantom-config '{"fov": "head-upper-neck"}'] [--segmentation default]

Prints a markdown table per fracture kind: fractured levels in view, the median share of the true
fracture region kept in the level's predicted mask (``metrics.segmentation.fracture_kept_in_mask``),
and how many keep less than half of it. Use held-out seeds.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.phantom_loaders import phantom_loaders
from SpineFractureLib.metrics.segmentation import fracture_kept_in_mask
from SpineFractureLib.models.registry import segmenter_tag
from SpineFractureLib.pipeline.segment import Segmenter


def kept_by_kind(store: ClsCache) -> dict[str, list[tuple[str, str, float]]]:
    """{fracture kind: [(case, level, share kept), ...]} over the store's fractured levels in view."""
    out: dict[str, list[tuple[str, str, float]]] = collections.defaultdict(list)
    for i in range(len(store)):
        sample = store[i]
        if sample.given is None or sample.fracture_truth is None:
            continue
        for value, lv in enumerate(LEVELS, start=1):
            if sample.fractured[value - 1] != 1:
                continue
            share = fracture_kept_in_mask(sample.predicted, sample.given, sample.fracture_truth, value)
            if share is not None:
                kind = sample.truth.get("levels", {}).get(lv, {}).get("kind")
                out[str(kind)].append((sample.case_id, lv, share))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs=2, type=int, action="append", required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--cache", default=None)
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--anatomy", default="procedural")
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON")
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = [s for first, count in a.seeds for s in range(first, first + count)]
    config = {"anatomy": a.anatomy} | a.phantom_config
    store = ClsCache(phantom_loaders(seeds, config), a.cache, lambda: Segmenter(a.segmentation, "cpu"),
                     tag=segmenter_tag(a.segmentation))
    rows = kept_by_kind(store)
    print("| fracture kind | fractured levels | median share kept in the level's mask | under half kept (cases) |")
    print("|---|---|---|---|")
    for kind in sorted(rows):
        shares = [s for _, _, s in rows[kind]]
        low = [f"{case.split('-')[1]} {lv} {s:.2f}" for case, lv, s in rows[kind] if s < 0.5]
        print(f"| {kind} | {len(shares)} | {np.median(shares):.2f} | {len(low)}{' (' + ', '.join(low) + ')' if low else ''} |")


if __name__ == "__main__":
    main()
