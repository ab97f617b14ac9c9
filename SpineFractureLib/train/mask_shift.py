"""Level-mask augmentation: the boundary between two neighbouring levels moved by a few millimetres.

On a real scan the segmentation's level boundaries do not always lie on the discs: where the 1 mm
vertebra mask grows the column into one piece, the coarse level network's argmax splits it, and
that split can run through a vertebral body (on the real head-and-neck series a candidate level
network put the lower third of C3's body in C4). The classifier, trained on phantom masks whose
boundaries sit on the discs, read such masks as fractures: on that series C3's probability was
0.62, 0.87 or 0.10 depending only on which of three level networks drew the masks (session 35).
This module moves one boundary, as such a split would, so that training shows it.

Labels stay honest as in :mod:`.fov_cut`: a fractured level never gives more than
``1 - MIN_FRACTURE_KEPT`` of its true fracture region to its neighbour (that neighbour's target
would then be wrong), and where a fractured level's region is unknown it is not shrunk at all.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..constants import N_LEVELS
from ..data.cls_cases import ClsSample

#: Range (mm) of a boundary's move, drawn uniformly: from a disc's half-height to about a third of
#: a cervical body's height (the split seen on the real series was about 4 mm into C3's body).
SHIFT_MM = (2.0, 7.0)
#: Share of a fractured level's true fracture region that must stay in its own mask.
MIN_FRACTURE_KEPT = 0.9


def shift_boundary(labels: np.ndarray, level: int, neighbour: int, shift_mm: float) -> np.ndarray:
    """Labels with ``shift_mm`` of ``level``'s side of its boundary with ``neighbour`` given to ``neighbour``.

    The boundary is taken as a plane across the line joining the two levels' centroids, half-way
    between the near ends of the two masks (5th and 95th percentiles of the voxels' positions along
    that line, so that a stray voxel does not move it); the level's voxels less than ``shift_mm``
    beyond it become the neighbour's. The neighbour's voxels are left as they are.

    Args:
        labels: C1..C7 labels (z, y, x) on a 1 mm isotropic grid.
        level: the level that shrinks (1..7).
        neighbour: the level that grows (1..7).
        shift_mm: how far the boundary moves into ``level`` (mm, ≥ 0).

    Returns:
        A new label array (the input is not changed); a copy of it where either level is absent.
    """
    out = labels.copy()
    own = np.argwhere(labels == level)
    other = np.argwhere(labels == neighbour)
    if not len(own) or not len(other):
        return out
    axis = own.mean(axis=0) - other.mean(axis=0)
    axis /= max(float(np.linalg.norm(axis)), 1e-6)
    t_own, t_other = own @ axis, other @ axis
    plane = 0.5 * (np.percentile(t_own, 5) + np.percentile(t_other, 95))
    moved = own[t_own < plane + shift_mm]
    out[tuple(moved.T)] = neighbour
    return out


def draw_mask_shift(sample: ClsSample, rng: np.random.Generator, mask_source: str = "predicted") -> ClsSample | None:
    """The case with one boundary between neighbouring levels moved (:data:`SHIFT_MM`), or None.

    Args:
        sample: a prepared case (arrays (z, y, x) at 1 mm).
        rng: the draw's random stream.
        mask_source: the mask that is moved (``predicted`` or ``given``).

    Returns:
        A copy of the case with the new mask, or None where no two neighbouring levels are present
        or the drawn move would take a fractured level's fracture out of its mask.
    """
    counts = np.bincount(sample.labels(mask_source).ravel(), minlength=N_LEVELS + 1)[1:N_LEVELS + 1]
    present = set(np.flatnonzero(counts) + 1)
    pairs = [(v, v + 1) for v in sorted(present) if v + 1 in present]
    if not pairs:
        return None
    pair = pairs[int(rng.integers(len(pairs)))]
    level, neighbour = pair if rng.random() < 0.5 else pair[::-1]
    return move_boundary(sample, level, neighbour, float(rng.uniform(*SHIFT_MM)), mask_source)


def move_boundary(sample: ClsSample, level: int, neighbour: int, shift_mm: float,
                  mask_source: str = "predicted") -> ClsSample | None:
    """The case with :func:`shift_boundary` applied to its mask, or None where that would move a fracture.

    Args:
        sample: a prepared case (arrays (z, y, x) at 1 mm).
        level, neighbour: the level that shrinks and the one that grows (1..7).
        shift_mm: how far the boundary moves (mm).
        mask_source: the mask that is moved (``predicted`` or ``given``).

    Returns:
        A copy of the case with the new mask (the other arrays shared), or None where ``level`` is
        fractured and would keep less than :data:`MIN_FRACTURE_KEPT` of the true fracture its mask
        covered (or its region is unknown).
    """
    labels = sample.labels(mask_source)
    shifted = shift_boundary(labels, level, neighbour, shift_mm)
    if sample.fractured[level - 1] == 1 and not _fracture_kept(sample, labels == level, shifted == level):
        return None
    if mask_source == "given" and sample.given is not None:
        return dataclasses.replace(sample, given=shifted)
    return dataclasses.replace(sample, predicted=shifted)


def _fracture_kept(sample: ClsSample, before: np.ndarray, after: np.ndarray) -> bool:
    """Whether the level's mask still covers :data:`MIN_FRACTURE_KEPT` of the true fracture it covered."""
    if sample.fracture_truth is None:
        return False
    region = sample.fracture_truth > 0
    total = int((region & before).sum())
    return total == 0 or int((region & after).sum()) >= MIN_FRACTURE_KEPT * total


__all__ = ["MIN_FRACTURE_KEPT", "SHIFT_MM", "draw_mask_shift", "move_boundary", "shift_boundary"]
