"""Segment the real CTs in ../shared/data and save a sagittal overlay PNG of each.

    python benchmarks/real_ct_overlay.py OUT_DIR [--model default]

Writes OUT_DIR/head-neck.png, chest.png and verse-T10-L3.png and prints, per scan, the levels
found (centroid, volume) and the levels the anatomical checks dropped. The head-and-neck series'
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
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seg = Segmenter(args.model, "cpu")
    info = seg.model_info
    report = {}
    for name, (path, what) in REAL_SCANS.items():
        ct = load_ct(path, auto_hu_correction=True)
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


if __name__ == "__main__":
    main()
