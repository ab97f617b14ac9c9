"""Segment the real CTs in ../shared/data and save a sagittal overlay PNG of each.

    python benchmarks/real_ct_overlay.py OUT_DIR [--model default] [--head-neck-bottom-mm 17 28]

Writes OUT_DIR/head-neck.png, chest.png and verse-T10-L3.png and prints, per scan, the levels
found (centroid, volume) and the levels the anatomical checks dropped. ``--head-neck-bottom-mm``
also runs the head-and-neck series with its slices below each height (LPS z, mm) removed, as a
scan ending there (17: half-way through C5's body; 28: through C4's), saved as
``head-neck-from-<mm>mm.png``: a head CT that reaches the upper neck. The head-and-neck series'
header is not calibrated in HU (soft tissue near 1090): the loader's automatic correction (-1024)
is applied, as `analyze` does. The chest CT holds the lowest cervical levels in its top slices;
the VerSe CT (T10-L3) holds none: any level there is invented.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.io import load_ct
from SpineFractureLib.metrics.segmentation import centroids_lps
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.report.overlay import save_sagittal_overlay

from real_scans import REAL_SCANS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--model", default="default")
    parser.add_argument("--head-neck-bottom-mm", type=float, nargs="*", default=[])
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seg = Segmenter(args.model, "cpu")
    info = seg.model_info
    report = {}
    scans = [(name, load_ct(path, auto_hu_correction=True), what) for name, (path, what) in REAL_SCANS.items()]
    head_neck = scans[0][1]
    for bottom in args.head_neck_bottom_mm:
        scans.append((f"head-neck-from-{bottom:g}mm", _from_height(head_neck, bottom),
                      f"{REAL_SCANS['head-neck'][1]} from z {bottom:g} mm up"))
    for name, ct, what in scans:
        result = seg.segment(ct)
        save_sagittal_overlay(ct, result.labels, out / f"{name}.png",
                              title=f"real CT ({what}), {ct.shape_xyz} at {tuple(round(s, 2) for s in ct.spacing)} mm",
                              note=f"model {info.name} {info.version}, trained on {info.trained_on}; research use only")
        voxel_ml = float(np.prod(ct.spacing)) / 1000.0
        report[name] = {
            "levels": {lv: {"centroid_lps_mm": [round(float(v), 1) for v in c],
                            "volume_ml": round(np.count_nonzero(result.labels.array == LEVELS.index(lv) + 1)
                                               * voxel_ml, 2)}
                       for lv, c in centroids_lps(result.labels).items()},
            "dropped": result.notes}
    print(json.dumps(report, indent=1))


def _from_height(ct, bottom_mm: float):
    """The slices of ``ct`` at or above LPS z ``bottom_mm`` (an axial series), on the same grid."""
    z = np.array([ct.index_to_lps(np.array([0.0, 0.0, float(k)]))[2] for k in range(ct.array.shape[0])])
    keep = np.flatnonzero(z >= bottom_mm)
    return ct.sub_volume((int(keep.min()), 0, 0), (int(keep.max()) + 1, *ct.array.shape[1:]))


if __name__ == "__main__":
    main()
