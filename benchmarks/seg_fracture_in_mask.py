"""How much of each true fracture the segmentation's level mask keeps, per fracture kind.

The classifier reads each level through its predicted mask: a fragment or gap the mask leaves out
is a fracture the classifier is not shown as that level's. Session 47 found 0.6.0 leaving displaced
dens fractures out of C2's mask (on 1866001 C2's mask ends 13 mm under the true C2 top). Each
phantom is segmented once (the classifier's case cache, so ``cls_per_fov.py`` and ``evaluate``
runs with the same cache reuse it):

    python benchmarks/seg_fracture_in_mask.py --seeds 1866000 24 --cache CACHE \
        [--phantom-config '{"fov": "head-upper-neck"}'] [--segmentation default]
    python benchmarks/seg_fracture_in_mask.py --sets PICKED.json --cache CACHE

(``--sets``: phantom sets as ``pick_fracture_seeds.py --json`` writes them, for a kind-rich set.)
Prints a markdown table per fracture kind: fractured levels in view, the median share of the true
fracture region kept in the level's predicted mask (``metrics.segmentation.fracture_kept_in_mask``),
how many keep less than half of it, and the fractured levels' mean Dice; then the mean Dice of
every level in view. Use held-out seeds.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.phantom_loaders import phantom_loaders, phantom_set_loaders
from SpineFractureLib.metrics.segmentation import dice_per_level, fracture_kept_in_mask
from SpineFractureLib.models.registry import segmenter_tag
from SpineFractureLib.pipeline.segment import Segmenter


def kept_by_kind(store: ClsCache, dice: dict[str, list[float]] | None = None
                 ) -> dict[str, list[tuple[str, str, float, float]]]:
    """{fracture kind: [(case, level, share kept, Dice), ...]} over the store's fractured levels in
    view; ``dice``, when given, collects every level's Dice by the level's kind ("intact" included)."""
    out: dict[str, list[tuple[str, str, float, float]]] = collections.defaultdict(list)
    for i in range(len(store)):
        sample = store[i]
        if sample.given is None or sample.fracture_truth is None:
            continue
        dices = dice_per_level(sample.predicted, sample.given)
        for value, lv in enumerate(LEVELS, start=1):
            kind = str(sample.truth.get("levels", {}).get(lv, {}).get("kind"))
            if dice is not None and dices[lv] is not None and sample.fractured[value - 1] in (0, 1):
                dice[kind if sample.fractured[value - 1] == 1 else "intact"].append(dices[lv])
            if sample.fractured[value - 1] != 1:
                continue
            share = fracture_kept_in_mask(sample.predicted, sample.given, sample.fracture_truth, value)
            if share is not None:
                out[kind].append((sample.case_id, lv, share, float(dices[lv] or 0.0)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs=2, type=int, action="append", default=[], metavar=("FIRST", "COUNT"))
    parser.add_argument("--sets", default=None, help="phantom sets JSON (pick_fracture_seeds.py --json)")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--anatomy", default="procedural")
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON")
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not a.seeds and not a.sets:
        parser.error("give --seeds or --sets")
    seeds = [s for first, count in a.seeds for s in range(first, first + count)]
    config = {"anatomy": a.anatomy} | a.phantom_config
    loaders = phantom_loaders(seeds, config)
    if a.sets:
        with open(a.sets, encoding="utf-8") as f:
            loaders += phantom_set_loaders(json.load(f))
    store = ClsCache(loaders, a.cache, lambda: Segmenter(a.segmentation, "cpu"), tag=segmenter_tag(a.segmentation))
    dice: dict[str, list[float]] = collections.defaultdict(list)
    rows = kept_by_kind(store, dice)
    print("| fracture kind | fractured levels | median share kept in the level's mask | under half kept (cases) | mean Dice |")
    print("|---|---|---|---|---|")
    for kind in sorted(rows):
        shares = [r[2] for r in rows[kind]]
        low = [f"{case.split('-')[1]} {lv} {s:.2f}" for case, lv, s, _ in rows[kind] if s < 0.5]
        print(f"| {kind} | {len(shares)} | {np.median(shares):.2f} | {len(low)}{' (' + ', '.join(low) + ')' if low else ''}"
              f" | {np.mean([r[3] for r in rows[kind]]):.3f} |")
    every = [d for v in dice.values() for d in v]
    print(f"\nMean Dice of the {len(every)} levels in view: {np.mean(every):.3f} (intact levels "
          f"{np.mean(dice['intact']):.3f}, n={len(dice['intact'])})")


if __name__ == "__main__":
    main()
