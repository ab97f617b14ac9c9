"""The localizer's anatomical rules: what, on its class map, is a cervical spine and where it ends.

The localizer's network (:mod:`.localizer`) calls each 4 mm voxel background, cervical or other
vertebra; these rules, each measured on phantoms named beside its threshold, decide whether the
cervical-looking voxels are a cervical spine (on the column, at its top, on the midline, behind
the airway, with spine below) and where the cervical and thoracic spine meet. Class maps are
(z, y, x) on a grid of identity direction (z towards the head, y towards posterior).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..data.localizer_cases import CERVICAL, OTHER_VERTEBRA
from ..volume import CTVolume

#: A cervical spine is in view when the cervical voxels on the column hold at least this volume
#: (ml): one cervical vertebra is 5-15 ml, a 4 mm voxel 0.064 ml.
MIN_CERVICAL_ML = 4.0
#: A vertebral column runs head to feet: a column piece shorter than this (mm) is not one (a
#: stretch of skull wall the network misread, in a held-out head phantom) unless the scan's lower
#: edge cuts it (:data:`MIN_CUT_COLUMN_MM`).
MIN_COLUMN_MM = 60.0
#: A column that reaches the body's lowest slice (:data:`COLUMN_EDGE_MM`) may be this short (mm):
#: a head CT that ends at C2 holds 32-36 mm of column (head-upper-neck phantoms 1274000-1274003),
#: while the short skull-wall pieces of head-only phantoms that reach the lowest slice are 8-16 mm.
MIN_CUT_COLUMN_MM = 28.0
#: The cervical spine lies in the body's left-right middle: its centre at most this far (mm) from
#: the centre of the body in the same slices (a stretch of skull wall lies 30 mm or more off it).
MAX_OFF_MIDLINE_MM = 20.0
#: A cervical spine has more spine below it: its column reaches the body's lowest slice (within
#: this many mm) or holds at least :data:`MIN_SPINE_BELOW_ML` of other vertebrae below the
#: cervical voxels' centre. On 48 head-only phantoms (generator 1.2, seeds 1290000-1290047) the
#: network marked stretches of the occipital skull wall "cervical", on the midline, 60-76 mm tall,
#: 7-17 ml, ending 20-56 mm above the scan's lower edge with no other vertebra below them; and the
#: segmentation reported one of them (1290034) as C2-C3. Every spine in 80 phantoms of every field
#: of view reached the lowest slice.
COLUMN_EDGE_MM = 8.0
MIN_SPINE_BELOW_ML = 5.0
#: Above this (HU) a voxel is in the body.
BODY_HU = -400.0
#: The junction of the cervical and the thoracic spine counts as seen only where the column's
#: other-vertebra rows below it span at least this much (mm): a whole T1 with its disc. At a scan's
#: lower edge the network calls a cut C6 or C7 "other vertebra" over 12-16 mm (development
#: phantoms 1200007 and 1201003, seeds used by nothing else), which is no junction.
MIN_THORACIC_RUN_MM = 24.0
#: A run of other-vertebra rows that reaches the scan's lower edge must span this much (mm): in
#: neck scans cut at C6 the network called C5-C6 "other vertebra" over 24-28 mm down to the edge
#: (phantoms 1240007, 1240013), and true neck junctions run 28-44 mm to it (1200002-1200006);
#: a chest CT's thoracic spine runs 300 mm or more.
MIN_EDGE_THORACIC_RUN_MM = 60.0
#: Other-vertebra rows at the bottom of the column that reach the scan's lower edge over less than
#: this (mm), shorter than a whole T1 with its disc (:data:`MIN_THORACIC_RUN_MM`), are a vertebra
#: the edge cuts: the network called cut C6s "other vertebra" over 12-16 mm (session 24), and
#: mesh-anatomy validation phantoms 1310007 and 1310015 lost their C6 to it.
MAX_CUT_EDGE_RUN_MM = 20.0
#: The airway (the pharynx, then the trachea) lies in front of the cervical spine: the body's
#: inner air within :data:`AIRWAY_HALF_WIDTH_MM` of the spine's left-right centre lies 36-40 mm in
#: front of the cervical voxels' centre in head-upper-neck 1700000, chest 1717001 and whole-body
#: 1274000. Cervical-looking voxels with that air behind them are the mandible: head CT 1700004
#: (ending at C2), whose region lay 38 mm in front of it, got C1 and "C3" on the mandible from a
#: level network trained on chest crops (session 33).
MAX_AIRWAY_BEHIND_MM = 0.0
AIRWAY_HALF_WIDTH_MM = 16.0
#: The cervical spine is one unbroken run of rows at the column's top: cervical-looking rows that
#: a gap of more than this (mm) of other rows separates from the run above belong to the thoracic
#: or lumbar column (development chest phantoms 1717000-1717005: stray "cervical" votes 100-300 mm
#: below C7 stretched the box over the whole column, or had the spine rejected as lying below
#: other vertebrae).
MAX_CERVICAL_GAP_MM = 12.0


def off_midline_mm(mask: np.ndarray, grid: CTVolume) -> float:
    """Left-right distance (mm) from the centre of ``mask`` to the body's centre in the same slices (0 if no body)."""
    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    body = grid.array[rows] > BODY_HU
    if not body.any():
        return 0.0
    return float(abs(np.nonzero(mask)[2].mean() - np.nonzero(body)[2].mean()) * grid.spacing[0])


def airway_behind_mm(mask: np.ndarray, grid: CTVolume) -> float | None:
    """How far (mm) the body's inner air lies behind a mask's centre, in the mask's slices, or None.

    Inner air: voxels under the body threshold inside the body's filled outline, within
    :data:`AIRWAY_HALF_WIDTH_MM` of the mask's left-right centre (the airway, not the lungs).

    Args:
        mask: bool (z, y, x) on ``grid`` (identity direction: y runs to Posterior).
        grid: the 4 mm HU the classes were predicted from.

    Returns:
        The air's mean y minus the mask's mean y (mm; positive: the air lies behind), or None
        where those slices hold no inner air near the midline.
    """
    kji = np.argwhere(mask)
    if kji.size == 0:
        return None
    x0 = kji[:, 2].mean()
    half = AIRWAY_HALF_WIDTH_MM / grid.spacing[0]
    near = np.abs(np.arange(mask.shape[2]) - x0) <= half
    air_y = []
    for k in np.unique(kji[:, 0]):
        hu = grid.array[k]
        air = ndimage.binary_fill_holes(hu > BODY_HU) & (hu <= BODY_HU) & near[None, :]
        if air.any():
            air_y.append(np.nonzero(air)[0].mean())
    if not air_y:
        return None
    return float((np.mean(air_y) - kji[:, 1].mean()) * grid.spacing[1])


def top_run(mask: np.ndarray, row_mm: float, max_gap_mm: float = MAX_CERVICAL_GAP_MM) -> np.ndarray:
    """The part of a (z, y, x) mask (z up) in its topmost run of rows, gaps up to ``max_gap_mm`` bridged.

    Args:
        mask: bool (z, y, x), z towards the head.
        row_mm: slice spacing (mm).
        max_gap_mm: the largest distance (mm) between two consecutive rows of one run.
    """
    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    if rows.size < 2:
        return mask
    breaks = np.nonzero(np.diff(rows) * row_mm > max_gap_mm)[0]
    if breaks.size == 0:
        return mask
    out = mask.copy()
    out[: rows[breaks[-1] + 1]] = False
    return out


def mm_above_body_bottom(grid: CTVolume, row: int) -> float:
    """How far (mm) slice ``row`` lies above the lowest slice holding body (or the grid's lowest)."""
    body_rows = np.nonzero((grid.array > BODY_HU).any(axis=(1, 2)))[0]
    return (row - (int(body_rows.min()) if body_rows.size else 0)) * grid.spacing[2]


def spine_below(column: np.ndarray, classes: np.ndarray, centre_k: float, voxel_ml: float) -> bool:
    """Whether a column holds at least :data:`MIN_SPINE_BELOW_ML` of other vertebrae below slice ``centre_k``."""
    below = column & (classes == OTHER_VERTEBRA)
    below[int(np.floor(centre_k)):] = False
    return float(below.sum()) * voxel_ml >= MIN_SPINE_BELOW_ML


def cut_edge_run(classes: np.ndarray, cervical: np.ndarray, grid: CTVolume,
                 max_run_mm: float = MAX_CUT_EDGE_RUN_MM) -> np.ndarray | None:
    """The other-vertebra voxels of a column between its cervical spine and the scan's lower edge,
    where they span fewer than ``max_run_mm``: a vertebra cut by the edge (else None).

    Args:
        classes: uint8 (z, y, x) class map of the column's voxels (identity direction, z up).
        cervical: bool (z, y, x): the cervical spine found.
        grid: the map's grid.
    """
    rows = np.nonzero(cervical.any(axis=(1, 2)))[0]
    if rows.size == 0 or rows.min() == 0:
        return None
    below = classes[: rows.min()] == OTHER_VERTEBRA
    column_rows = np.nonzero((classes[: rows.min()] > 0).any(axis=(1, 2)))[0]
    # The rows below the cervical spine hold column voxels without a gap down to the lowest or
    # the next row (the map's edge row may hold only partial voxels, as the junction reads it).
    if (not below.any() or column_rows.size == 0 or column_rows[0] > 1
            or column_rows.size != rows.min() - column_rows[0] or rows.min() * grid.spacing[2] >= max_run_mm):
        return None
    out = np.zeros(classes.shape, bool)
    out[: rows.min()] = below
    return out


def cervicothoracic_junction_mm(classes: np.ndarray, grid: CTVolume, min_run_mm: float = MIN_THORACIC_RUN_MM,
                                min_edge_run_mm: float = MIN_EDGE_THORACIC_RUN_MM) -> float | None:
    """LPS z (mm) of the junction of the cervical and the thoracic spine in a class map, or None.

    Radiologists count a chest CT's levels up from T1 because the junction, not the top of the
    scan, fixes the numbering; this gives the segmentation the same anchor. Each slice of the
    column is cervical where it holds more cervical voxels than other-vertebra ones. Going down
    from the top, the junction is the first change from a cervical slice to other-vertebra slices
    that go on for ``min_run_mm`` (``min_edge_run_mm`` where they reach the map's lowest slice, the
    scan's lower edge); half-way between the two slices.

    Args:
        classes: uint8 (z, y, x) class map (0 background, 1 cervical, 2 other vertebra), the
            column's voxels only; ``grid``'s direction is the identity (z towards the head).
        grid: the map's grid.
        min_run_mm: how far the other-vertebra slices below must reach.
        min_edge_run_mm: the same for slices that reach the map's lowest slice.
    """
    cervical = (classes == CERVICAL).sum(axis=(1, 2))
    other = (classes == OTHER_VERTEBRA).sum(axis=(1, 2))
    rows = [k for k in range(classes.shape[0] - 1, -1, -1) if cervical[k] or other[k]]  # top down
    is_cervical = [bool(cervical[k] > other[k]) for k in rows]
    dz = grid.spacing[2]
    for i in range(1, len(rows)):
        if not (is_cervical[i - 1] and not is_cervical[i]):
            continue
        run = i
        while run + 1 < len(rows) and not is_cervical[run + 1]:
            run += 1
        needed = min_edge_run_mm if rows[run] <= 1 else min_run_mm
        if (rows[i] - rows[run] + 1) * dz >= needed:
            return float(grid.origin[2] + dz * (rows[i - 1] + rows[i]) / 2.0)
    return None


__all__ = ["AIRWAY_HALF_WIDTH_MM", "BODY_HU", "COLUMN_EDGE_MM", "MAX_AIRWAY_BEHIND_MM", "MAX_CERVICAL_GAP_MM",
           "MAX_CUT_EDGE_RUN_MM", "MAX_OFF_MIDLINE_MM", "MIN_CERVICAL_ML", "MIN_COLUMN_MM", "MIN_CUT_COLUMN_MM",
           "MIN_EDGE_THORACIC_RUN_MM", "MIN_SPINE_BELOW_ML", "MIN_THORACIC_RUN_MM", "airway_behind_mm",
           "cervicothoracic_junction_mm", "cut_edge_run", "mm_above_body_bottom", "off_midline_mm", "spine_below",
           "top_run"]
