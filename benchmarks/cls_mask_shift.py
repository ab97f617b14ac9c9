"""How a classifier judges levels whose mask boundary with a neighbour is moved (held-out phantoms).

For every prepared phantom and every pair of neighbouring levels in its mask, the boundary between
them is moved ``--mm`` into one level and then into the other (``train.mask_shift``: the split a
coarse level network can draw through a vertebral body on a real scan; moves that would take a
fracture out of its level are skipped). Both levels of the pair are classified with the rest of the
column and compared with the same levels under the unmoved mask.

    python benchmarks/cls_mask_shift.py --cache CACHE --seeds 900924 30 [--model default] [--mm 4] \
        [--segmentation default] [--phantom-config JSON] [--json OUT]

Prints: levels judged, intact levels over the balanced threshold (moved vs unmoved mask), mean
intact probability, the AUC over the judged levels, and how many moves were skipped.
"""

from __future__ import annotations

import argparse
import json
import logging

import torch

from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.train.fov_cut import level_z_ranges
from SpineFractureLib.train.mask_shift import move_boundary

from cls_fov_cut import held_out_cases, print_report, probabilities

log = logging.getLogger("cls_mask_shift")


def shift_records(clf: Classifier, sample, mm: float) -> list[dict]:
    """For each neighbouring pair and direction: both levels' probabilities under the unmoved and the moved mask."""
    whole = probabilities(clf, sample)
    present = sorted(level_z_ranges(sample.predicted))
    rows = []
    for v in present:
        if v + 1 not in present:
            continue
        for level, neighbour in ((v, v + 1), (v + 1, v)):
            moved = move_boundary(sample, level, neighbour, mm)
            p = None if moved is None else probabilities(clf, moved)
            for lv, role in ((level, "shrunk"), (neighbour, "grown")):
                rows.append({"case": sample.case_id, "level": lv, "role": role,
                             "target": int(sample.fractured[lv - 1]), "whole": whole[lv - 1],
                             "cut": None if p is None else p[lv - 1]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--seeds", nargs=2, type=int, required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--mm", type=float, default=4.0, help="how far each boundary moves")
    parser.add_argument("--phantom-config", type=json.loads, default=None,
                        help='e.g. \'{"spacing": [3.2, 3.2, 1.5], "psf_fwhm_mm": 2.0, "antialias": true}\'')
    parser.add_argument("--json", help="also write the per-level records here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    cache = held_out_cases(args.cache, args.seeds, args.phantom_config, args.segmentation)
    clf = Classifier(args.model, "cpu")
    rows = []
    for i in range(len(cache)):
        rows += shift_records(clf, cache[i], args.mm)
    # the report names the moved mask's probability "cut" (its summary is cls_fov_cut's)
    print_report(clf, rows, "role", ("shrunk", "grown"), args.json, mm=args.mm)


if __name__ == "__main__":
    main()
