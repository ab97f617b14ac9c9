"""Find the cervical spine in any neck field of view and cut a 1 mm box around it.

A bone-column heuristic on a coarse (3 mm) copy, no model: the vertebral column is the longest
near-vertical run of bone close to the body's left-right middle. Skull walls are lateral, the
mandible and sternum are short or anterior, ribs are oblique, so neither wins. The cervical spine is
the top of that run (it ends at the skull base or at the top of the field of view).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..volume import CTVolume
from .geometry import resample, resample_like

log = logging.getLogger(__name__)

#: Size (x, y, z) mm of the box cut around the cervical spine.
CROP_SIZE_MM: tuple[float, float, float] = (112.0, 128.0, 192.0)
COARSE_MM = 3.0
BONE_HU = 200.0
BODY_HU = -400.0
#: How far (mm) above the top of the bone run the box begins (the run can stop at the dens tip).
TOP_MARGIN_MM = 16.0
#: Where the column lies between the front (0) and the back (1) of the body in each slice:
#: behind the face, mandible, airway and sternum, in front of the back of the neck.
COLUMN_BAND = (0.35, 0.92)
#: The localizer's cervical region may end this far (mm) below the column's top before the box is
#: placed on the region instead (:func:`column_runs_above`).
MAX_TOP_GAP_MM = 40.0
#: Column runs must start this close (mm) to the bottom of the body in the field of view.
ANCHOR_MM = 40.0
#: The column ends where the bone around it exceeds this multiple of its median (the skull base).
SKULL_AREA_RATIO = 3.0
#: In-plane radius (mm) around the column path in which its bone is measured.
NEIGHBOURHOOD_MM = 35.0
#: From C1's top to C7's lowest voxel (mm) in an adult neck: 124-144 mm in neck phantoms
#: 1700100-1700105. A box placed on a region the scan's top edge cuts is placed as if the column
#: ran on up this far above the cervicothoracic junction.
CERVICAL_HEIGHT_MM = 130.0
#: A region whose top lies within this distance (mm) of the scan's highest slice is cut by it.
TOP_EDGE_MM = 8.0
#: The top-edge rule moves the box only when C1's expected top lies at least this far (mm) above
#: the region's: the scan's top cuts C3 or lower. Where it cuts C1 or C2 the column's box is kept,
#: as the level network was trained (held-out neck 1710000, C1 cut: a raised box put C7 11 mm off).
MIN_RAISE_MM = 50.0


@dataclass(frozen=True)
class SpineBox:
    """An axis-aligned LPS box around the cervical spine.

    Attributes:
        centre_lps: box centre (x, y, z) in LPS mm.
        size_mm: box extent (x, y, z) in mm.
        column_top_lps: top of the detected bone column (LPS mm), for the log and tests.
        column_found: False when no bone column was found and the box is only the field of
            view's centre: no cervical spine is in view.
    """

    centre_lps: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    column_top_lps: tuple[float, float, float]
    column_found: bool = True

    def grid(self, spacing_mm: float = 1.0) -> CTVolume:
        """The box as an empty CTVolume (identity direction, isotropic ``spacing_mm``)."""
        size = np.maximum(1, np.round(np.asarray(self.size_mm) / spacing_mm)).astype(int)
        origin = np.asarray(self.centre_lps) - (size - 1) / 2.0 * spacing_mm
        return CTVolume(np.zeros(tuple(size[::-1]), np.float32), (spacing_mm,) * 3, tuple(origin), np.eye(3))


def find_spine_box(ct: CTVolume, size_mm: tuple[float, float, float] = CROP_SIZE_MM) -> SpineBox:
    """Locate the cervical spine and return a box of ``size_mm`` around it.

    Args:
        ct: CT in HU, any orientation and spacing; array (z, y, x).
        size_mm: box extent (x, y, z) in mm.

    Returns:
        The box. If no bone column is found, the box is centred on the field of view and
        ``column_found`` is False.
    """
    coarse = resample(ct, COARSE_MM, axis_aligned=True)  # identity direction: index axes = L, P, S
    hu = coarse.array
    body = hu > BODY_HU
    if not body.any():
        log.info("no body found (nothing above %.0f HU): spine box centred on the field of view", BODY_HU)
        return _centred_box(coarse, size_mm)
    # Smoothing fills the discs (4-6 mm) between bodies, so the column reads as one run.
    bone = ndimage.gaussian_filter((hu > BONE_HU).astype(np.float32), sigma=(2.0, 1.0, 1.0))
    body_z = np.nonzero(body.any(axis=(1, 2)))[0]
    runs = _run_lengths((bone > 0.2) & _column_band(body), int(body_z[0]), round(ANCHOR_MM / COARSE_MM))
    x_mid = np.mean(np.nonzero(body)[2])
    xs = np.arange(hu.shape[2])
    central = np.exp(-(((xs - x_mid) * COARSE_MM / 30.0) ** 2))  # favour the left-right middle
    score = runs * central[None, None, :]
    if score.max() < 30.0 / COARSE_MM:  # no run of 3 cm: not a spine
        log.info("no vertebral column found: spine box centred on the field of view")
        return _centred_box(coarse, size_mm)
    # ">=" on the flipped z axis: among equal runs the highest end (the cervical one) wins.
    flat = np.argmax(score[::-1].reshape(-1))
    zf, y0, x0 = np.unravel_index(int(flat), score.shape)
    top = hu.shape[0] - 1 - int(zf)
    path = _trace_down(runs, (top, y0, x0))
    path, top = _stop_at_skull(hu > BONE_HU, path)
    # In-plane centre: median over the path of the bone centroid within 35 mm of it (the
    # path hugs the bodies; the centroid brings in the posterior elements).
    z_lo = top - round(size_mm[2] / COARSE_MM)
    r = round(NEIGHBOURHOOD_MM / COARSE_MM)
    centres = []
    for z, y, x in path:
        if z < z_lo:
            break
        window = hu[z, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] > BONE_HU
        if window.any():
            ys, xs_ = np.nonzero(window)
            centres.append((max(0, y - r) + ys.mean(), max(0, x - r) + xs_.mean()))
    cy, cx = np.median(np.asarray(centres), axis=0) if centres else (float(y0), float(x0))
    top_lps = coarse.index_to_lps((x0, y0, top))
    centre_xy = coarse.index_to_lps((cx, cy, top))
    centre_z = top_lps[2] + TOP_MARGIN_MM - size_mm[2] / 2.0
    centre = (float(centre_xy[0]), float(centre_xy[1]), float(centre_z))
    log.debug("spine column top at %s mm; box centre %s", np.round(top_lps, 1), np.round(centre, 1))
    return SpineBox(centre, tuple(float(s) for s in size_mm), tuple(float(v) for v in top_lps))


def box_agrees(box: SpineBox, region_lps: tuple[tuple[float, ...], tuple[float, ...]], share: float = 0.8) -> bool:
    """Whether ``box`` holds at least ``share`` of a region's volume (two LPS corners, mm)."""
    lo, hi = np.asarray(region_lps[0], float), np.asarray(region_lps[1], float)
    b_lo = np.asarray(box.centre_lps) - np.asarray(box.size_mm) / 2
    b_hi = np.asarray(box.centre_lps) + np.asarray(box.size_mm) / 2
    inter = np.prod(np.clip(np.minimum(hi, b_hi) - np.maximum(lo, b_lo), 0.0, None))
    return bool(inter >= share * np.prod(np.maximum(hi - lo, 1e-6)))


def column_runs_above(box: SpineBox, region_lps: tuple[tuple[float, ...], tuple[float, ...]],
                      max_gap_mm: float = MAX_TOP_GAP_MM) -> bool:
    """Whether the bone column's top lies more than ``max_gap_mm`` above a region's top (LPS mm).

    In a head CT that ends at C2-C4 the column run goes on up into the skull (no slice below it
    holds the neck's median bone, so the skull-base stop never fires), and the box lands on the
    skull with the neck at its lower edge.
    """
    return bool(box.column_top_lps[2] - float(region_lps[1][2]) > max_gap_mm)


def region_of_mask(mask: CTVolume, pad_mm: float = 0.0) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The LPS box (two corners, mm) of a mask's nonzero voxels, grown by ``pad_mm``; None if empty.

    Args:
        mask: any array (z, y, x) on its grid; nonzero marks the region.
        pad_mm: added on every side (half a voxel gives the voxels' outer faces).
    """
    kji = np.argwhere(mask.array)
    if kji.size == 0:
        return None
    corners = mask.index_to_lps(np.array([kji.min(axis=0)[::-1], kji.max(axis=0)[::-1]], float))
    lo, hi = np.minimum(corners[0], corners[1]) - pad_mm, np.maximum(corners[0], corners[1]) + pad_mm
    return tuple(float(v) for v in lo), tuple(float(v) for v in hi)


def place_box(box: SpineBox, region_lps: tuple[tuple[float, ...], tuple[float, ...]] | None,
              scan_z_mm: tuple[float, float] | None = None, junction_z_mm: float | None = None) -> SpineBox:
    """The crop box: the bone column's, unless a cervical region known otherwise says it is wrong.

    At inference the region is the localizer's; in training, the truth labels' (so the level
    network learns on crops placed as they will be at inference). The region places the box
    (:func:`box_around`) when the column's box misses it (a chest CT's thoracic spine) or the
    column runs on far above it (:func:`column_runs_above`: a head CT ending at C2-C4).

    Where the scan's top edge cuts the region, the scan goes on below it and the cervicothoracic
    junction is seen (a chest CT whose top slices hold C6-C7), the box is placed as if the column
    ran on up to C1, :data:`CERVICAL_HEIGHT_MM` above the junction (:func:`region_cut_at_top`;
    only where that lies :data:`MIN_RAISE_MM` or more above the region's top):
    the level network reads a level's name partly from its height in the box, and in a box whose
    top lies on C6 it called C6 and C7 "C1"-"C3" (development chest phantoms 1717000-1717011).
    The junction, not the region's bottom, places it: the localizer's region reached 28-38 mm
    below C7 into T1-T2 on three of those twenty chests, its junction lay within 10 mm of the
    truth on all but one (22 mm). Without a junction the lowest level in view is not known to be
    C7, and a box raised from the region's bottom put necks cut at both ends one level off
    (fields-of-view phantoms 1262001, 1262002, 1262007: C2-C6 named C3-C7).

    Args:
        box: from :func:`find_spine_box`.
        region_lps: the cervical spine's LPS box (two corners, mm), or None when none is known.
        scan_z_mm: the scan's lowest and highest voxel centres' LPS z (mm;
            :func:`~.geometry.scan_z_range_mm`), or None (no top-edge rule).
        junction_z_mm: LPS z (mm) of the cervicothoracic junction, or None (no top-edge rule).
            In training, the same rule on the truth's classes
            (:func:`~SpineFractureLib.train.seg_data.truth_junction_z_mm`).
    """
    if (region_lps is not None and scan_z_mm is not None and junction_z_mm is not None
            and region_cut_at_top(region_lps, scan_z_mm)
            and float(junction_z_mm) + CERVICAL_HEIGHT_MM - float(region_lps[1][2]) >= MIN_RAISE_MM):
        lo, hi = region_lps
        raised = (*hi[:2], float(junction_z_mm) + CERVICAL_HEIGHT_MM)
        log.info("the scan's top edge cuts the cervical region: box placed as if the column ran %.0f mm above "
                 "the cervicothoracic junction", CERVICAL_HEIGHT_MM)
        return box_around((lo, raised))
    if region_lps is None or (box_agrees(box, region_lps) and not column_runs_above(box, region_lps)):
        return box
    log.info("spine box placed on the cervical region (the bone-column box missed it, or its column top lies "
             "%.0f mm above it)", box.column_top_lps[2] - float(region_lps[1][2]))
    return box_around(region_lps)


def region_cut_at_top(region_lps: tuple[tuple[float, ...], tuple[float, ...]], scan_z_mm: tuple[float, float]) -> bool:
    """Whether a region reaches the scan's top edge (within :data:`TOP_EDGE_MM`) but not its lower one.

    Args:
        region_lps: two LPS corners (mm).
        scan_z_mm: the scan's lowest and highest voxel centres' z (mm).
    """
    return bool(float(region_lps[1][2]) >= scan_z_mm[1] - TOP_EDGE_MM
                and float(region_lps[0][2]) > scan_z_mm[0] + TOP_EDGE_MM)


def box_around(region_lps: tuple[tuple[float, ...], tuple[float, ...]],
               size_mm: tuple[float, float, float] = CROP_SIZE_MM) -> SpineBox:
    """A box of ``size_mm`` placed on a region known to be the cervical spine (two LPS corners, mm).

    In-plane it is centred on the region; its top lies :data:`TOP_MARGIN_MM` above the region's
    top, as :func:`find_spine_box` places it above the top of the bone column.
    """
    lo, hi = np.asarray(region_lps[0], float), np.asarray(region_lps[1], float)
    top = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2]])
    centre = (float(top[0]), float(top[1]), float(hi[2] + TOP_MARGIN_MM - size_mm[2] / 2.0))
    return SpineBox(centre, tuple(float(v) for v in size_mm), tuple(float(v) for v in top))


def crop_to_box(ct: CTVolume, box: SpineBox, spacing_mm: float = 1.0, *, is_label: bool = False) -> CTVolume:
    """Resample ``ct`` onto ``box``'s isotropic grid (air or 0 outside the input).

    Args:
        ct: CT in HU or a label map, array (z, y, x).
        box: the box from :func:`find_spine_box`.
        spacing_mm: voxel size of the crop.
        is_label: nearest neighbour (labels) instead of linear (CT).

    Returns:
        The crop, identity direction (array axes z = S, y = P, x = L).
    """
    return resample_like(ct, box.grid(spacing_mm), is_label=is_label)


def field_of_view(ct: CTVolume, grid: CTVolume) -> np.ndarray:
    """Where ``grid`` (e.g. a crop) lies inside the scanned volume of ``ct``.

    Args:
        ct: the CT as loaded, any orientation.
        grid: the grid to test, array (z, y, x).

    Returns:
        bool (z, y, x) on ``grid``: True inside the CT's field of view.
    """
    inside = ct.with_array(np.ones(ct.array.shape, np.uint8))
    return resample_like(inside, grid, is_label=True).array > 0


def extend_beyond_field_of_view(hu: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Fill the voxels outside the field of view with the nearest scanned voxel's value.

    The box around the spine often reaches past a short or tilted field of view. Filled with air,
    the edge of the scan looks like a cut through the body, and the vertebra network, which
    outlines bone from local context, missed most of a vertebra lying against it (validation
    phantoms 800034 and 800040 lost C6 and C2). Repeating the last measured voxels (edge padding,
    in any direction the scan ends) keeps that context plausible; results outside are cleared after.

    Args:
        hu: (z, y, x) HU on the crop grid.
        fov: bool (z, y, x), from :func:`field_of_view`.

    Returns:
        A float32 copy of ``hu`` with the outside filled.
    """
    if hu.shape != fov.shape:
        raise ValueError(f"field-of-view mask {fov.shape} does not fit the volume {hu.shape}")
    if fov.all() or not fov.any():
        return hu.astype(np.float32, copy=True)
    nearest = ndimage.distance_transform_edt(~fov, return_distances=False, return_indices=True)
    return hu[tuple(nearest)].astype(np.float32)


def _run_lengths(mask: np.ndarray, first: int, anchor: int) -> np.ndarray:
    """Length of the bone run ending at each voxel of a (z, y, x) mask, going up in z.

    A run may drift by one voxel in y and x per slice (the column is curved by the lordosis),
    and must start in slices ``first .. first + anchor - 1``.
    """
    out = np.zeros(mask.shape, np.int32)
    prev = np.zeros(mask.shape[1:], np.int32)
    for z in range(mask.shape[0]):  # a few dozen coarse slices: a loop over z is cheap
        below = ndimage.maximum_filter(prev, size=3)
        # Runs start only near the bottom: the column reaches the bottom of any neck field of
        # view, the face and mandible do not.
        alive = mask[z] if z < first + anchor else mask[z] & (below > 0)
        prev = np.where(alive, below + 1, 0)
        out[z] = prev
    return out


def _trace_down(runs: np.ndarray, end: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """The voxels (z, y, x) of the run ending at ``end``, from its top down."""
    z, y, x = end
    path = [(z, y, x)]
    while z > 0 and runs[z, y, x] > 1:
        z -= 1
        ys, xs = slice(max(0, y - 1), y + 2), slice(max(0, x - 1), x + 2)
        dy, dx = np.unravel_index(int(np.argmax(runs[z, ys, xs])), runs[z, ys, xs].shape)
        y, x = ys.start + int(dy), xs.start + int(dx)
        path.append((z, y, x))
    return path


def _stop_at_skull(bone: np.ndarray, path: list[tuple[int, int, int]]) -> tuple[list, int]:
    """Cut a top-down column path where it runs into the skull base (a jump in bone area)."""
    r = round(NEIGHBOURHOOD_MM / COARSE_MM)
    area = np.array([bone[z, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].sum() for z, y, x in path])
    lower = area[len(area) // 2:]  # the lower half of the path is neck
    limit = SKULL_AREA_RATIO * max(float(np.median(lower)), 1.0)
    start = 0
    for i in range(len(area) // 2, -1, -1):  # from the middle upwards
        if area[i] > limit:
            start = i + 1
            break
    return path[start:], path[start][0] if start < len(path) else path[0][0]


def _column_band(body: np.ndarray) -> np.ndarray:
    """(z, y, x) mask of the front-to-back band of each slice's body where the column can lie."""
    ys = np.arange(body.shape[1], dtype=float)[None, :, None]
    any_y = body.any(axis=2)  # (z, y)
    front = np.where(any_y.any(axis=1), np.argmax(any_y, axis=1), 0).astype(float)
    back = body.shape[1] - 1 - np.argmax(any_y[:, ::-1], axis=1).astype(float)
    rel = (ys - front[:, None, None]) / np.maximum(back - front, 1.0)[:, None, None]
    return (rel >= COLUMN_BAND[0]) & (rel <= COLUMN_BAND[1])


def _centred_box(coarse: CTVolume, size_mm: tuple[float, float, float]) -> SpineBox:
    centre = coarse.index_to_lps((np.asarray(coarse.shape_xyz) - 1) / 2.0)
    c = tuple(float(v) for v in centre)
    return SpineBox(c, tuple(float(s) for s in size_mm), c, column_found=False)


__all__ = ["CERVICAL_HEIGHT_MM", "CROP_SIZE_MM", "MAX_TOP_GAP_MM", "MIN_RAISE_MM", "TOP_EDGE_MM", "SpineBox",
           "box_agrees", "box_around", "column_runs_above", "crop_to_box", "extend_beyond_field_of_view",
           "field_of_view", "find_spine_box", "place_box", "region_cut_at_top", "region_of_mask"]
