"""The localizer on its own (phantoms-v2 issue, item 4): crop error and none-in-view accuracy.

    python benchmarks/localizer_eval.py [--phantoms 8] [--seed 960000]

Today's localizer is the bone-column heuristic (`preprocess/crop.py`) plus the anatomical checks on
what the segmentation finds (`models/level_checks.py`); a trained localizer will be measured with
this same script. Per field-of-view kind:

- neck phantoms (generator v1, random pose, spacing and cut ends): whether a column was found, the
  in-plane distance (mm) from the box centre to the centroid of the true levels, and the share of
  the true levels' voxels inside the box;
- no cervical spine in view: each phantom's part above C1 (the skull base only) and below C7 (a
  slab of T1-T2), and the real VerSe CT (T10-L3): the share where no level is reported;
- the real chest CT (top slices hold the lowest cervical levels): the levels reported.

Prints one JSON object. Phantom seeds 960000+ are used by nothing else.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from SpineFractureLib.data.phantom import make_phantom
from SpineFractureLib.io import load_ct
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.crop import crop_to_box, find_spine_box

from real_scans import REAL_SCANS


def _levels(seg: Segmenter, ct) -> list[int]:
    return [int(v) for v in np.unique(seg.segment(ct).labels.array) if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=8)
    parser.add_argument("--seed", type=int, default=960000)
    args = parser.parse_args()
    seg = Segmenter("default", "cpu")
    neck, none_in_view = [], []
    for seed in range(args.seed, args.seed + args.phantoms):
        case = make_phantom(seed)
        lab = case.labels.array
        box = find_spine_box(case.ct)
        cervical = (lab >= 1) & (lab <= 7)
        kji = np.argwhere(cervical).mean(axis=0)
        centre = case.ct.index_to_lps(kji[::-1])
        inside = crop_to_box(case.labels.with_array(cervical.astype(np.uint8)), box, is_label=True).array.sum()
        voxel_mm3 = float(np.prod(case.ct.spacing))
        neck.append({"seed": seed, "column_found": box.column_found,
                     "in_plane_error_mm": round(float(np.linalg.norm(np.subtract(box.centre_lps[:2], centre[:2]))), 1),
                     "share_inside": round(float(inside / (cervical.sum() * voxel_mm3)), 3)})
        # The grid's z index may run either way: find the slices above C1 and below C7 in LPS z.
        z_lps = case.ct.index_to_lps(np.array([[0, 0, k] for k in range(lab.shape[0])], float))[:, 2]
        rows = np.nonzero(cervical.any(axis=(1, 2)))[0]
        up = 1 if z_lps[-1] > z_lps[0] else -1
        top, bottom = (rows.max(), rows.min()) if up > 0 else (rows.min(), rows.max())
        parts = {"above C1": (top + up * 3, lab.shape[0] if up > 0 else -1),
                 "below C7": (bottom - up * 3, -1 if up > 0 else lab.shape[0])}
        for name, (a, b) in parts.items():
            lo, hi = sorted((a, b))
            lo, hi = max(lo + (1 if a > b else 0), 0), min(hi + (1 if a > b else 0), lab.shape[0])
            if hi - lo < 4:
                continue
            part = case.ct.sub_volume((lo, 0, 0), (hi, lab.shape[1], lab.shape[2]))
            found = _levels(seg, part)
            none_in_view.append({"case": f"phantom {seed} {name}", "slices": int(hi - lo), "levels_reported": found})
    verse = load_ct(REAL_SCANS["verse-T10-L3"][0])
    none_in_view.append({"case": "real VerSe T10-L3", "levels_reported": _levels(seg, verse)})
    chest = _levels(seg, load_ct(REAL_SCANS["chest"][0]))
    errors = [c["in_plane_error_mm"] for c in neck]
    print(json.dumps({
        "neck_phantoms": {"cases": len(neck), "column_found_rate": float(np.mean([c["column_found"] for c in neck])),
                          "in_plane_error_mm_median": float(np.median(errors)), "in_plane_error_mm_max": max(errors),
                          "share_inside_min": min(c["share_inside"] for c in neck), "per_case": neck},
        "none_in_view": {"cases": len(none_in_view),
                         "accuracy": float(np.mean([not c["levels_reported"] for c in none_in_view])),
                         "per_case": none_in_view},
        "real_chest_levels_reported": chest}, indent=1))


if __name__ == "__main__":
    main()
