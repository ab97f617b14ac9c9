"""Anatomical checks on the levels a segmentation found: nothing invented.

Calling a piece of a thoracic vertebra, a rib or the aorta "C3" is the worst error this product can
make, worse than finding nothing. The networks were trained on neck phantoms only, and on real scans
without a cervical spine in the crop they leave specks: on the real VerSe CT (T10–L3, no cervical
vertebra) the shipped 0.3.0 segmentation found "C1, C2, C5, C6" of 0.02–0.08 ml each, on the real
chest CT "C1" and "C7" of 0.2 ml 120 mm apart, while every level of the validation phantoms was
7.6 ml or more and the real head-and-neck CT's C1–C5 11–16 ml. These checks keep only levels that
could be a cervical vertebra and sit where the column puts them; each one dropped is reported.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..constants import LEVELS, N_LEVELS

log = logging.getLogger(__name__)

#: Smallest volume (ml) a found level may have. A whole adult cervical vertebra is 6–20 ml; the
#: specks on the real scans without a cervical spine were at most 0.22 ml. A level cut by the field
#: of view to less than this is dropped too: too little of it is in view to classify or measure.
MIN_LEVEL_ML = 1.0
#: Centroid distance (mm) per level between two found levels: adjacent cervical centroids lie
#: 13–26 mm apart on the validation phantoms and 15–21 mm on the real head-and-neck CT.
STEP_MM = (8.0, 32.0)


@dataclass
class LevelCheck:
    """What :func:`check_levels` kept and why it dropped the rest.

    Attributes:
        labels: uint8 label map (z, y, x) holding only the kept levels.
        dropped: level name -> reason, for each level removed.
    """

    labels: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """One sentence per dropped level, for findings.json and the terminal."""
        return [f"a {level} candidate was discarded: {why}" for level, why in self.dropped.items()]


def check_levels(labels: np.ndarray, spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 min_ml: float = MIN_LEVEL_ML, step_mm: tuple[float, float] = STEP_MM) -> LevelCheck:
    """Drop found levels that cannot be a cervical vertebra where they are.

    First every level smaller than ``min_ml`` goes. Of the rest, the largest set that forms a
    column is kept: for every two consecutive kept levels a < b, their centroids lie between
    ``step_mm[0]·(b−a)`` and ``step_mm[1]·(b−a)`` mm apart. Among sets of one size, the one with
    more adjacent levels wins (vertebrae are contiguous), then the larger total volume.

    Args:
        labels: uint8 label map (z, y, x), 1..7 = C1..C7.
        spacing_mm: voxel size (x, y, z) mm of ``labels``' grid (axis-aligned grid).
        min_ml: the volume floor (ml).
        step_mm: (smallest, largest) centroid distance per level (mm).

    Returns:
        The checked labels and the reasons for what was dropped.
    """
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    if not values:
        return LevelCheck(labels.copy())
    counts = ndimage.sum_labels(np.ones(labels.shape, np.float32), labels, values)
    volume = {v: float(c) * voxel_ml for v, c in zip(values, counts)}
    dropped: dict[str, str] = {}
    for v in values:
        if volume[v] < min_ml:
            dropped[LEVELS[v - 1]] = f"{volume[v]:.2f} ml, too small for a vertebra (at least {min_ml:g} ml)"
    sized = [v for v in values if volume[v] >= min_ml]
    zyx_mm = np.asarray(spacing_mm[::-1], float)
    centre = {v: np.asarray(c) * zyx_mm for v, c in
              zip(sized, ndimage.center_of_mass(np.ones(labels.shape, np.float32), labels, sized))} if sized else {}
    kept = _largest_column(sized, centre, volume, step_mm)
    for v in sized:
        if v not in kept:
            near = min((abs(k - v), k) for k in kept)[1] if kept else None
            where = (f"{np.linalg.norm(centre[v] - centre[near]):.0f} mm from {LEVELS[near - 1]}, where "
                     f"{step_mm[0] * abs(near - v):.0f}–{step_mm[1] * abs(near - v):.0f} mm fit the column"
                     if near is not None else "off the column")
            dropped[LEVELS[v - 1]] = f"it lies {where}"
    out = labels.copy()
    out[~np.isin(labels, kept)] = 0
    if dropped:
        log.info("levels dropped by the anatomical checks: %s", dropped)
    return LevelCheck(out, dropped)


def _largest_column(values: list[int], centre: dict[int, np.ndarray], volume: dict[int, float],
                    step_mm: tuple[float, float]) -> list[int]:
    """The largest subset of ``values`` whose consecutive members are a plausible distance apart.

    At most seven levels: all 127 subsets are tried, which is clearer than a search and instant.
    """
    def fits(a: int, b: int) -> bool:
        d = float(np.linalg.norm(centre[a] - centre[b]))
        return step_mm[0] * (b - a) <= d <= step_mm[1] * (b - a)

    best: tuple[int, int, float, list[int]] = (0, 0, 0.0, [])
    for n in range(len(values), 0, -1):
        for subset in itertools.combinations(values, n):
            if all(fits(a, b) for a, b in zip(subset, subset[1:])):
                adjacent = sum(b - a == 1 for a, b in zip(subset, subset[1:]))
                score = (n, adjacent, sum(volume[v] for v in subset))
                if score > best[:3]:
                    best = (*score, list(subset))
        if best[3]:
            break
    return best[3]


__all__ = ["LevelCheck", "MIN_LEVEL_ML", "STEP_MM", "check_levels"]
