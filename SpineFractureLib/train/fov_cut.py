"""Field-of-view augmentation: the scan ends inside the top or bottom vertebra.

Two users: classifier cases (:func:`draw_field_of_view_cut`) and the segmentation level stage's
crops (:func:`draw_level_crop_cut`).

Real series often stop part-way through a vertebra (a head-and-neck scan through C6, a chest scan
whose top slices hold half of C6 or C7). The training phantoms' fields of view end above C1 or
below T1, or leave out C1 or C7 altogether, so the classifier never saw a half vertebra above or
below a flat face of air: 0.3.0 called 80 % of held-out intact bottom vertebrae cut in half
fractured (``benchmarks/cls_fov_cut.py``; 0.3.1, trained with these cuts, 2 %). This module
removes the slices beyond a plane through an end level, as the scan would have: a case whose field
of view stops there.

Labels stay honest: a cut that would remove a fractured level, or most of a level's true fracture
region, is not made (a fracture the scan leaves out cannot be seen, and the case's targets would
then be wrong).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from ..constants import N_LEVELS
from ..data.cls_cases import ClsSample
from ..data.phantom.fracture_view import MIN_SHARE_IN_VIEW

End = Literal["top", "bottom"]
#: Share of the cut level's slices that stays in view, drawn uniformly.
KEPT_FRACTION = (0.3, 0.8)
#: Share of a fractured level's true fracture region that must stay in view for a cut to be made
#: (the share the phantom generator itself draws a fracture at: one rule for what a scan shows).
MIN_FRACTURE_KEPT = MIN_SHARE_IN_VIEW
#: Voxels (1 mm) around a level's mask within which its true fracture region is looked for.
FRACTURE_MARGIN = 3


def z_range(mask: np.ndarray) -> tuple[int, int] | None:
    """First and last slice (z index, inclusive) holding any of a (z, y, x) mask, or None."""
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    return (int(zs[0]), int(zs[-1])) if zs.size else None


def level_z_ranges(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """First and last slice (z index, inclusive) of each level 1..7 in a (z, y, x) label map."""
    ranges = {v: z_range(labels == v) for v in range(1, N_LEVELS + 1)}
    return {v: r for v, r in ranges.items() if r is not None}


def cut_plane(z_range: tuple[int, int], end: End, kept_fraction: float) -> int:
    """The slice index where a scan ending inside a level starts (``bottom``) or stops (``top``).

    Arrays are (z, y, x) with z towards the head: a scan cut at the ``bottom`` keeps ``z >= plane``
    (the level's upper ``kept_fraction``), one cut at the ``top`` keeps ``z < plane``.
    """
    lo, hi = z_range
    kept = int(np.clip(round(kept_fraction * (hi - lo + 1)), 1, hi - lo + 1))
    return hi + 1 - kept if end == "bottom" else lo + kept


def cut_field_of_view(sample: ClsSample, end: End, plane: int, mask_source: str = "predicted") -> ClsSample | None:
    """The case as a scan that starts (``bottom``) or stops (``top``) at slice ``plane`` would give it.

    The arrays are cut, not filled: a ROI that reaches beyond the new edge is padded with air as
    at a real scan's edge. Levels left without a voxel get the target -1 (absent).

    Args:
        sample: a prepared case (arrays (z, y, x), z towards the head).
        end: which end of the scan moves.
        plane: slice index (see :func:`cut_plane`).
        mask_source: the level mask the cut is judged on (``predicted`` or ``given``).

    Returns:
        The cut case (arrays are views of the original's), or None where the cut would hide a
        fracture (a fractured level removed, or less than :data:`MIN_FRACTURE_KEPT` of a fractured
        level's true region kept, or its region unknown) or leave no level.
    """
    keep = slice(plane, None) if end == "bottom" else slice(0, plane)
    labels = sample.labels(mask_source)
    kept_labels = labels[keep]
    fractured = sample.fractured.copy()
    before = np.bincount(labels.ravel(), minlength=N_LEVELS + 1)[1:N_LEVELS + 1]
    after = np.bincount(kept_labels.ravel(), minlength=N_LEVELS + 1)[1:N_LEVELS + 1]
    if not after.any():
        return None
    for i in np.flatnonzero(after < before):  # the levels the cut takes voxels from
        if fractured[i] == 1 and not _fracture_kept(sample, labels == i + 1, keep):
            return None
        if after[i] == 0:
            fractured[i] = -1
    return dataclasses.replace(
        sample, hu=sample.hu[keep], predicted=sample.predicted[keep],
        given=None if sample.given is None else sample.given[keep],
        fracture_prob=sample.fracture_prob[keep],
        fracture_truth=None if sample.fracture_truth is None else sample.fracture_truth[keep],
        fractured=fractured)


def draw_field_of_view_cut(sample: ClsSample, rng: np.random.Generator,
                           mask_source: str = "predicted") -> ClsSample | None:
    """A random cut through the top or bottom level (or the one next to it), or None where none is honest.

    Args:
        sample: a prepared case.
        rng: the draw's random stream.
        mask_source: ``predicted`` or ``given``.
    """
    ranges = level_z_ranges(sample.labels(mask_source))
    if len(ranges) < 2:
        return None
    end: End = "top" if rng.random() < 0.5 else "bottom"
    order = end_levels(ranges, end)
    level = order[int(rng.random() < 0.5)]
    plane = cut_plane(ranges[level], end, float(rng.uniform(*KEPT_FRACTION)))
    return cut_field_of_view(sample, end, plane, mask_source)


#: Share of the level stage's cuts made at the bottom: a head CT that ends anywhere from C2 down
#: (the failure of the localization card, session 30); the rest are made at the top, as a chest CT
#: whose top slices hold C5-C7 shows them (segmentation card, session 33).
BOTTOM_CUT_SHARE = 0.6
#: Share of the bottom cuts made through T1 where the crop holds it, keeping :data:`T1_KEPT_FRACTION`
#: of T1's slices unlabelled: a scan ending a few mm into T1 had its T1 called "C7" and its C7
#: "C6" (fresh neck phantom 1880001, validation 1749396; segmentation card, session 48), a picture
#: the cuts through C2-C7 alone never showed.
T1_CUT_SHARE = 0.3
#: Share of T1's slices (its top part: body, pedicles, the articular processes) kept by such a cut.
T1_KEPT_FRACTION = (0.1, 0.6)


def draw_level_crop_cut(hu: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                        air_hu: float, t1_slices: tuple[int, int] | None = None
                        ) -> tuple[np.ndarray, np.ndarray] | None:
    """A level-stage crop as a scan ending inside one of its vertebrae would give it, or None.

    The crop keeps its shape (at inference the box is fixed and the scan's outside is air): the
    slices beyond the plane become ``air_hu`` and their labels background; the part of the cut
    level left in view keeps its name. A bottom cut (:data:`BOTTOM_CUT_SHARE` of the draws) goes
    through any level below the highest one, a top cut through any level above the lowest one,
    keeping :data:`KEPT_FRACTION` of that level's slices; where the crop holds T1 and C7,
    :data:`T1_CUT_SHARE` of the bottom cuts go through T1 instead, keeping the top
    :data:`T1_KEPT_FRACTION` of its slices as background. A crop cut at the top sits in its box as
    a chest CT's does at inference (:func:`~SpineFractureLib.preprocess.crop.place_box` places a
    region the scan's top cuts as if the column ran on up to C1). No fracture truth is involved
    (the level stage learns names only).

    Args:
        hu: HU (z, y, x), z towards the head (any spacing).
        labels: C1..C7 labels on the same grid.
        rng: the draw's random stream.
        air_hu: the HU the scan's outside reads as.
        t1_slices: first and last slice (inclusive) of T1 on the same grid, or None.

    Returns:
        New (hu, labels) arrays, or None where fewer than two levels are present.
    """
    ranges = level_z_ranges(labels)
    if len(ranges) < 2:
        return None
    end: End = "bottom" if rng.random() < BOTTOM_CUT_SHARE else "top"
    if end == "bottom" and t1_slices is not None and N_LEVELS in ranges and rng.random() < T1_CUT_SHARE:
        plane = cut_plane(t1_slices, end, float(rng.uniform(*T1_KEPT_FRACTION)))
    else:
        order = end_levels(ranges, end)
        candidates = order[:-1]
        level = candidates[int(rng.integers(len(candidates)))]
        plane = cut_plane(ranges[level], end, float(rng.uniform(*KEPT_FRACTION)))
    gone = slice(0, plane) if end == "bottom" else slice(plane, None)
    hu, labels = hu.copy(), labels.copy()
    hu[gone] = air_hu
    labels[gone] = 0
    return hu, labels


#: Largest shift (mm) of a level-stage crop whose top lies above the scan (:func:`jitter_box_above_scan`):
#: such a box is placed from the localizer's cervicothoracic junction, which lay within 10 mm of
#: the truth's on 19 of 20 development chests (22 mm on one), and 8 mm high on chest 1202006 was
#: enough for a network trained on exactly placed boxes to name C6-C7 "C5-C6" (session 34).
BOX_JITTER_MM = 12.0


def jitter_box_above_scan(hu: np.ndarray, labels: np.ndarray, rng: np.random.Generator, air_hu: float,
                          max_shift: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A crop whose top slices lie above the scan, moved up or down by up to ``max_shift`` slices.

    The box of a scan the top edge cuts is placed from a junction that errs by up to a level
    (:func:`~SpineFractureLib.preprocess.crop.place_box`); the network should read the names from
    the vertebrae, not from the exact height in the box. The content never moves up by more than
    the air above it (no scan slice leaves the box at the top); slices it uncovers are air.

    Args:
        hu: HU (z, y, x), z towards the head.
        labels: labels on the same grid.
        rng: the draw's random stream.
        air_hu: the HU the scan's outside reads as (slices wholly of it lie outside the scan).
        max_shift: the largest shift (slices).

    Returns:
        New (hu, labels), or None where the crop's top slice holds scan.
    """
    outside = (hu == air_hu).all(axis=(1, 2))
    top_air = int(np.argmin(outside[::-1])) if not outside.all() else 0
    if top_air == 0:
        return None
    shift = int(rng.integers(-max_shift, min(max_shift, top_air) + 1))
    out_hu, out_labels = np.full_like(hu, air_hu), np.zeros_like(labels)
    n = hu.shape[0]
    src, dst = (slice(0, n - shift), slice(shift, n)) if shift >= 0 else (slice(-shift, n), slice(0, n + shift))
    out_hu[dst], out_labels[dst] = hu[src], labels[src]
    return out_hu, out_labels


def end_levels(ranges: dict[int, tuple[int, int]], end: End) -> list[int]:
    """Levels ordered from the ``top`` (C1's side) or the ``bottom`` end of the column inwards.

    By name, not by slice: the dens of C2 rises above the ring of C1.
    """
    return sorted(ranges, reverse=end == "bottom")


def _fracture_kept(sample: ClsSample, level_mask: np.ndarray, keep: slice) -> bool:
    """Whether at least :data:`MIN_FRACTURE_KEPT` of the true fracture voxels near the level stay in view.

    Near: inside the level's bounding box grown by :data:`FRACTURE_MARGIN` voxels (a gap or a
    displaced fragment lies outside the bone the level mask covers).
    """
    if sample.fracture_truth is None:
        return False
    box = tuple(slice(max(0, int(i.min()) - FRACTURE_MARGIN), int(i.max()) + 1 + FRACTURE_MARGIN)
                for i in np.nonzero(level_mask))
    near = np.zeros(level_mask.shape, bool)
    near[box] = True
    region = (sample.fracture_truth > 0) & near
    total = int(region.sum())
    return total > 0 and int(region[keep].sum()) >= MIN_FRACTURE_KEPT * total


__all__ = ["BOTTOM_CUT_SHARE", "KEPT_FRACTION", "MIN_FRACTURE_KEPT", "T1_CUT_SHARE", "T1_KEPT_FRACTION",
           "cut_field_of_view", "cut_plane", "draw_field_of_view_cut", "draw_level_crop_cut", "end_levels",
           "level_z_ranges", "z_range"]
