"""Fracture classifiers on the real head-and-neck series of ../shared/data (no known fracture).

The project has no real CT with known fractures, so this series is the one real check of a
classifier: every level it calls fractured here is most likely a false alarm. The shipped
segmentation runs once; each classifier then reads the same 1 mm crop, as ``analyze`` gives it,
and under probes that say what drives a probability:

- ``boundary``: the masks' boundary between two neighbouring levels moved 2–6 mm into one of them
  (``train.mask_shift.shift_boundary``; a level network's split through a body is that uncertain);
- ``masks``: every level's mask 1 mm thinner or thicker (grown into background only;
  ``train.mask_surface.move_mask_surfaces``), and C3's two neighbours' masks alone 1 mm thinner.
  A segmentation trained on phantoms puts a real scan's surfaces about 1 mm inside the blurred bone;
  classifiers up to 0.3.1 read the rim so left out as a fracture (classification card, session 40);
- ``no-fracture-map``: the segmentation's fracture-region channel set to zero (an input the
  network never saw: a clue, not a fix);
- ``constant fracture map``: the channel a constant 0.36 (the map's level inside phantom bone),
  i.e. whatever shape the map has taken away;
- ``smooth``: the HU crop blurred (Gaussian, sigma 1 mm), i.e. the fine texture taken away;
- ``noise``: Gaussian noise (sd 30 HU, seed 0) added to the HU crop;
- ``bone``: bone made less (or more) dense: HU lowered by d on a ramp from 0 at 100 HU to the full
  d at 400 HU and above (soft tissue untouched; ``train.bone_density.shift_bone_density``, which the
  ``bone_density`` training augmentation also uses), d = 100, 200 and -150 HU. The real series' level
  cores are 500-620 HU, the phantoms' at its voxel size 280-470 HU; an older patient's would be lower.
  A weak probe: on phantoms it moves the calls the other way from porotic bone drawn by the
  generator (``PhantomConfig.cancellous_hu``; classification card, session 38).

    python benchmarks/cls_real_series.py --classifier default --classifier runs/F/model.pt [--probes] [--json OUT]

Prints a Markdown table (one row per classifier and probe: the probability of C1..C7, the patient
probability, the levels over the classifier's balanced threshold) and writes the rows as JSON.
Shipped weights are trained on synthetic phantoms only.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from real_scans import REAL_SCANS
from SpineFractureLib.constants import LEVELS
from SpineFractureLib.io import load_ct
from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.train.bone_density import shift_bone_density
from SpineFractureLib.train.mask_surface import move_mask_surfaces
from SpineFractureLib.train.mask_shift import shift_boundary

#: (from, into) neighbour pairs and distances (mm) of the boundary probe: the real series' C3, the
#: level 0.3.1 calls fractured, against both neighbours.
BOUNDARY_MOVES = [(a, b, mm) for a, b in ((3, 2), (2, 3), (3, 4), (4, 3)) for mm in (2, 4, 6)]
#: HU taken off bone by the density probe (negative: added).
BONE_SHIFTS_HU = (100, 200, -150)


def probes(hu: np.ndarray, labels: np.ndarray, fracture: np.ndarray, with_probes: bool):
    """The inputs to classify: ``(name, hu, labels, fracture)``, the crop as it is first.

    Args:
        hu: float32 HU (z, y, x) of the 1 mm crop.
        labels: uint8 C1..C7 labels (z, y, x) on the same grid.
        fracture: float32 fracture-region probability 0..1 (z, y, x).
        with_probes: also yield the probes of the module docstring.
    """
    yield "as analyzed", hu, labels, fracture
    if not with_probes:
        return
    for a, b, mm in BOUNDARY_MOVES:
        yield f"boundary C{a}->C{b} {mm} mm", hu, shift_boundary(labels, a, b, mm), fracture
    for mm in (-1, 1):
        yield f"every mask {mm:+d} mm", hu, move_mask_surfaces(labels, mm), fracture
    thinner = move_mask_surfaces(labels, -1)
    yield "C2 and C4 masks -1 mm", hu, np.where(np.isin(labels, (2, 4)), thinner, labels), fracture
    yield "no-fracture-map", hu, labels, np.zeros_like(fracture)
    yield "constant fracture map 0.36", hu, labels, np.full_like(fracture, 0.36)
    yield "smooth 1 mm", gaussian_filter(hu, 1.0).astype(np.float32), labels, fracture
    noisy = hu + np.random.default_rng(0).normal(0.0, 30.0, hu.shape).astype(np.float32)
    yield "noise 30 HU", noisy, labels, fracture
    for d in BONE_SHIFTS_HU:
        yield f"bone {-d:+d} HU", shift_bone_density(hu, -d), labels, fracture


def rows(classifiers: list[str], segmentation: str, with_probes: bool) -> list[dict]:
    """One row per classifier and probe: per-level probabilities (None: level absent), the
    patient probability and the levels over the classifier's balanced threshold."""
    ct = load_ct(REAL_SCANS["head-neck"][0], auto_hu_correction=True)
    result = Segmenter(segmentation, "cpu").segment(ct)
    hu = result.crop_hu.array.astype(np.float32)
    labels = result.crop_labels.array
    fracture = result.crop_fracture.astype(np.float32)
    out = []
    for name in classifiers:
        clf = Classifier(name, "cpu")
        for probe, h, lab, fr in probes(hu, labels, fracture, with_probes):
            c = clf.classify(h, lab, fr, gradcam=False)
            out.append({"classifier": name, "probe": probe,
                        "levels": {lv: None if p is None else round(float(p), 3)
                                   for lv, p in zip(LEVELS, c.probabilities)},
                        "patient": round(float(c.patient_probability), 3),
                        "called": [lv for lv, f in zip(LEVELS, c.fractured) if f]})
    return out


def markdown(table: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = "| classifier | input | " + " | ".join(LEVELS) + " | patient | called |"
    lines = [head, "|" + "---|" * (len(LEVELS) + 4)]
    for r in table:
        cells = ["–" if p is None else f"{p:.2f}" for p in r["levels"].values()]
        lines.append(f"| {Path(r['classifier']).name} | {r['probe']} | " + " | ".join(cells)
                     + f" | {r['patient']:.2f} | {', '.join(r['called']) or 'none'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", action="append", help="registered name or weights file (repeat)")
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--probes", action="store_true", help="also the boundary, fracture-map, smoothing and noise probes")
    parser.add_argument("--json", type=Path, help="write the rows here")
    a = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = rows(a.classifier or ["default"], a.segmentation, a.probes)
    print(markdown(table))
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
