"""Segment the real head-and-neck CT in ../shared/data and save a sagittal overlay PNG.

    python benchmarks/real_ct_overlay.py OUT.png [--model default]

The series' header is not calibrated in HU (soft tissue near 1090): the loader's automatic
correction (-1024) is applied, as `analyze` does. Prints the levels found with their centroids.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from SpineFractureLib.data.case import LEVELS
from SpineFractureLib.io import load_ct
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.report.overlay import save_sagittal_overlay
from SpineFractureLib.metrics.segmentation import centroids_lps

SERIES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ct-head-neck-dicom"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    ct = load_ct(SERIES, auto_hu_correction=True)
    seg = Segmenter(args.model, "cpu")
    result = seg.segment(ct)
    info = seg.model_info
    save_sagittal_overlay(ct, result.labels, args.out,
                          title=f"real head-and-neck CT (Slicer CTHeadAxial), {ct.shape_xyz} at "
                                f"{tuple(round(s, 2) for s in ct.spacing)} mm",
                          note=f"model {info.name} {info.version}, trained on {info.trained_on}; research use only")
    cents = centroids_lps(result.labels)
    voxel_ml = float(np.prod(ct.spacing)) / 1000.0
    print(json.dumps({lv: {"centroid_lps_mm": [round(float(v), 1) for v in c],
                           "volume_ml": round(np.count_nonzero(result.labels.array == LEVELS.index(lv) + 1)
                                              * voxel_ml, 2)}
                      for lv, c in cents.items()}, indent=1))


if __name__ == "__main__":
    main()
