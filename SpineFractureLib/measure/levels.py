"""Per-level measurements: volume, cancellous bone density, body heights and Genant grade.

- **Volume** (mL): the level's voxels times the voxel volume.
- **Mean HU of the cancellous body**: an opportunistic bone-density figure. An ellipsoid in the
  body's core, :data:`CORTEX_MARGIN_MM` inside its walls and endplates, so that neither the cortex
  nor its partial-volume blur counts (see :func:`cancellous_mean_hu`).
- **Heights** on the mid-sagittal plane (anterior, middle, posterior) and the six keypoints.
- **Genant grade** of the largest relative height loss. A vertebra's own heights cannot show a
  crush that lowers the whole body, so the expected height is the larger of the body's own
  tallest height and the mean tallest height of its present neighbours among C3–C7 (C2's body
  is shaped differently; C1 has none): ``loss = 1 − min(heights) / expected``. C3–C7 are graded;
  C2 (dens, a body unlike the others) and C1 are not.

C1 has no body: its entry says so and keeps volume only; nothing is invented. A level whose body
reaches the first or last slice keeps its volume and density but gets no heights or grade (see
:func:`levels_cut_by_scan`); so does every level of a scan with voxels over
:data:`MAX_MEASURE_VOXEL_MM`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..constants import LEVELS
from ..grading import genant_grade
from ..volume import CTVolume, box_around_labels
from .body import BodyGeometry, measure_body
from .frame import level_points, vertebra_frame

#: Distance from the mask's surface (mm) below which voxels are left out of the mean HU.
CORTEX_MARGIN_MM = 2.5
#: A C3–C7 mask smaller than this share of the median of the other C3–C7 masks holds part of
#: a vertebra only (a segmentation gap): its outline would give false heights.
MIN_VOLUME_SHARE = 0.65
#: A plausible cervical body on its mid-sagittal plane: depth (mm) and tallest height (mm).
BODY_DEPTH_MM = (8.0, 30.0)
MIN_TALLEST_MM = 8.0
#: A height under this share of the body's tallest is a gap in the mask, not bone (the worst
#: compressions the grades describe keep about half the height).
MIN_HEIGHT_SHARE = 0.3
#: Heights are not reported on a scan with a voxel side over this (mm). A Genant grade starts at a
#: 20 % loss; on a 15 mm cervical body each height can be off by about a voxel, so over 2 mm the
#: error alone (13 %+) approaches a grade. On the real head-and-neck sample (3.2 x 3.2 x 1.5 mm) an
#: intact C3 came out Genant 3 (posterior height 5 mm of 15).
MAX_MEASURE_VOXEL_MM = 2.0
#: Levels that are graded, and whose heights serve as a neighbour's expected height.
REFERENCE_LEVELS = ("C3", "C4", "C5", "C6", "C7")


@dataclass
class LevelMeasurement:
    """What is measured of one present level (None where it does not apply; see ``notes``).

    Attributes:
        level: "C1".."C7".
        volume_ml: the mask's volume (mL).
        mean_hu: mean HU of the cancellous body.
        heights_mm: {anterior, middle, posterior} (mm), or None.
        keypoints_lps_mm: the six body keypoints, LPS mm, or None.
        height_loss: largest relative height loss against the expected height (0..1), or None.
        genant_grade: 0–3, or None.
        centroid_lps_mm: the mask's centroid, LPS mm.
        notes: why something is missing.
    """

    level: str
    volume_ml: float
    mean_hu: float | None = None
    heights_mm: dict[str, float | None] | None = None
    keypoints_lps_mm: dict[str, list[float] | None] | None = None
    height_loss: float | None = None
    genant_grade: int | None = None
    centroid_lps_mm: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cancellous_mean_hu(ct: CTVolume, mask: np.ndarray, body: BodyGeometry, frame_to_local) -> float | None:
    """Mean HU of the cancellous body: an ellipsoid in the body's core, else the mask's deep voxels.

    The ellipsoid (as opportunistic bone-density ROIs are placed on CT) is centred between the
    body's anterior and posterior walls and between its endplates (the keypoints' median heights);
    its semi-axes are the half depth and half height less :data:`CORTEX_MARGIN_MM`, as wide as deep.
    It reads the CT, not the mask's interior: on porotic bone the segmentation leaves the pale core
    out of the mask, and the deep voxels the mask keeps lie by the cortex (phantom 1530004, drawn at
    56–77 HU: 146–508 HU from the mask, 58–82 HU from the ellipsoid). Where the keypoints are
    missing (often C2, whose dens rises over the body), the body's voxels at least
    :data:`CORTEX_MARGIN_MM` inside the mask are averaged instead.

    Args:
        ct: HU volume (z, y, x) on the mask's grid.
        mask: (z, y, x) bool mask of the level.
        body: the body's outline on its mid-sagittal plane.
        frame_to_local: maps (N, 3) LPS to (N, 3) local (u, v, w).

    Returns:
        The mean HU, or None when neither region holds a voxel (a body thinner than twice the margin).
    """
    zyx = np.argwhere(mask)  # both regions lie inside the level's outline: search its box
    lo, hi = zyx.min(axis=0), zyx.max(axis=0) + 1
    core = _core_mean_hu(ct, (lo, hi), body, frame_to_local)
    return core if core is not None else _deep_mean_hu(ct, mask, (lo, hi), body, frame_to_local)


def _core_mean_hu(ct: CTVolume, box_zyx: tuple[np.ndarray, np.ndarray], body: BodyGeometry,
                  frame_to_local) -> float | None:
    points = body.keypoints_lps_mm
    top = [p for k, p in points.items() if p is not None and k.endswith("_superior")]
    bottom = [p for k, p in points.items() if p is not None and k.endswith("_inferior")]
    if not top or not bottom:
        return None
    w_top = float(np.median(frame_to_local(np.asarray(top, float))[:, 2]))
    w_bottom = float(np.median(frame_to_local(np.asarray(bottom, float))[:, 2]))
    half_depth = (body.v_posterior - body.v_anterior) / 2 - CORTEX_MARGIN_MM
    half_height = (w_top - w_bottom) / 2 - CORTEX_MARGIN_MM
    if min(half_depth, half_height) < max(ct.spacing) / 2:
        return None
    centre_v, centre_w = (body.v_anterior + body.v_posterior) / 2, (w_top + w_bottom) / 2
    lo, hi = box_zyx
    box = np.indices(tuple(hi - lo)).reshape(3, -1).T + lo
    u, v, w = frame_to_local(ct.index_to_lps(box[:, ::-1].astype(float))).T
    inside = (u / half_depth) ** 2 + ((v - centre_v) / half_depth) ** 2 + ((w - centre_w) / half_height) ** 2 <= 1.0
    if not inside.any():
        return None
    return float(ct.array[tuple(box[inside].T)].mean())


def _deep_mean_hu(ct: CTVolume, mask: np.ndarray, box_zyx: tuple[np.ndarray, np.ndarray], body: BodyGeometry,
                  frame_to_local) -> float | None:
    lo, hi = box_zyx
    sub = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    sz, sy, sx = ct.spacing[2], ct.spacing[1], ct.spacing[0]
    depth = ndimage.distance_transform_edt(np.pad(sub, 1), sampling=(sz, sy, sx))[1:-1, 1:-1, 1:-1]
    deep = np.argwhere(depth >= CORTEX_MARGIN_MM) + lo
    if deep.size == 0:
        return None
    v = frame_to_local(ct.index_to_lps(deep[:, ::-1].astype(float)))[:, 1]
    in_body = (v >= body.v_anterior) & (v <= body.v_posterior)
    if not in_body.any():
        return None
    return float(ct.array[tuple(deep[in_body].T)].mean())


def measure_levels(ct: CTVolume, labels: np.ndarray) -> dict[str, LevelMeasurement]:
    """Measure every level present in a label map.

    Args:
        ct: the CT in HU; ``ct.array`` is (z, y, x).
        labels: (z, y, x) labels on ``ct``'s grid, 1..7 = C1..C7 (other values ignored).

    Returns:
        One entry per present level, by name ("C1".."C7"), head to feet.

    Raises:
        ValueError: ``labels`` is not on ``ct``'s grid.
    """
    if labels.shape != ct.array.shape:
        raise ValueError(f"labels {labels.shape} are not on the CT's grid {ct.array.shape}")
    cut, scan = levels_cut_by_scan(labels), ct
    coarse = (f"the scan's voxels ({' x '.join(f'{v:g}' for v in ct.spacing)} mm) are too coarse to measure "
              f"heights to within a Genant grade (at most {MAX_MEASURE_VOXEL_MM:g} mm)"
              if max(ct.spacing) > MAX_MEASURE_VOXEL_MM else "")
    ct, labels = _around_levels(ct, labels)
    voxel_ml = float(np.prod(ct.spacing)) / 1000.0
    parts = {v: _level_part(ct, labels, box) for v, box in _level_boxes(labels).items()}
    values = sorted(parts)
    centroids = {v: level_points(*parts[v], v).mean(axis=0) for v in values}
    voxels = np.bincount(labels.ravel(), minlength=len(LEVELS) + 1)
    counts = {v: int(voxels[v]) for v in values}
    out: dict[str, LevelMeasurement] = {}
    for value in values:
        name = LEVELS[value - 1]
        m = LevelMeasurement(name, round(float(counts[value]) * voxel_ml, 3),
                             centroid_lps_mm=np.round(centroids[value], 2).tolist())
        out[name] = m
        if name == "C1":
            m.notes.append("C1 (the atlas) has no vertebral body: no heights, density or Genant grade")
            continue
        part_ct, part_labels = parts[value]
        frame = vertebra_frame(part_ct, part_labels, value, centroids)
        mask = part_labels == value
        found = measure_body(part_ct, mask, frame, has_dens=name == "C2")
        if found is None:
            m.notes.append("no vertebral body found on the mid-sagittal plane")
            continue
        body, frame = found
        doubt = coarse or ("its body reaches the first or last slice of the scan (the field of view cuts it)"
                           if value in cut and _body_at_edge(scan, body) else _doubt(name, counts, value, body))
        if doubt:
            m.notes.append(f"{doubt}: heights and grade not reported")
        else:
            m.heights_mm, m.keypoints_lps_mm = _drop_implausible(body, m.notes)
        if name == "C2":
            m.notes.append("C2's middle height is not measured (the dens rises there) and C2 gets no Genant "
                           "grade (its body is not shaped like C3-C7's)")
        hu = cancellous_mean_hu(part_ct, mask, body, frame.to_local)
        m.mean_hu = None if hu is None else round(hu, 1)
        if hu is None:
            m.notes.append(f"the body holds no voxel {CORTEX_MARGIN_MM} mm inside its surface: no mean HU")
    _grade(out)
    return out


#: Voxels kept around the levels' bounding box (the cortex margin and the frames' planes fit inside).
CROP_MARGIN_MM = 10.0


def _around_levels(ct: CTVolume, labels: np.ndarray) -> tuple[CTVolume, np.ndarray]:
    """The CT and labels cut to the levels' bounding box plus a margin, on the same grid.

    Every measurement is in mm and LPS, so it does not change; it only stops each per-level pass
    from sweeping a whole 512×512×400 scan for a spine that fills a few percent of it.
    """
    box = box_around_labels(labels, ct.spacing, CROP_MARGIN_MM)
    if box is None:
        return ct, labels
    (z0, y0, x0), (z1, y1, x1) = box
    return ct.sub_volume(box[0], box[1]), labels[z0:z1, y0:y1, x0:x1]


#: Voxels kept around each level's own box: linear interpolation on the mid-sagittal plane reads
#: one voxel beyond the mask's edge, so with two the sampled values are those of the whole grid.
LEVEL_MARGIN_VOXELS = 2


def _level_boxes(labels: np.ndarray) -> dict[int, tuple[slice, ...]]:
    """Each present level's voxel box (label -> (z, y, x) slices), grown by :data:`LEVEL_MARGIN_VOXELS`.

    Each level's frame, plane and density are then computed on its own box: a level fills a few
    percent of the levels' joint box, and each per-level pass over that box (``labels == value``,
    a float copy for interpolation) was most of the measurement's time.
    """
    boxes = {}
    for i, box in enumerate(ndimage.find_objects(labels, max_label=len(LEVELS))):
        if box is not None:
            boxes[i + 1] = tuple(slice(max(b.start - LEVEL_MARGIN_VOXELS, 0), min(b.stop + LEVEL_MARGIN_VOXELS, n))
                                 for b, n in zip(box, labels.shape))
    return boxes


def _level_part(ct: CTVolume, labels: np.ndarray, box: tuple[slice, ...]) -> tuple[CTVolume, np.ndarray]:
    """The CT and labels inside one level's box, on the same grid (every voxel keeps its LPS position)."""
    return ct.sub_volume(tuple(b.start for b in box), tuple(b.stop for b in box)), labels[box]


def levels_cut_by_scan(labels: np.ndarray) -> list[int]:
    """Level values (1..7, ascending) with a voxel on the scan's first or last slice.

    The field of view may cut them: the visible part of a cut body is lower than the body, and its
    heights would grade an intact vertebra as compressed. (An in-plane edge cuts the posterior
    elements, not the body, so only the slice faces count.)

    Args:
        labels: (z, y, x) label map on the scan's grid.
    """
    found = np.union1d(np.unique(labels[0]), np.unique(labels[-1]))
    return [int(v) for v in found if 1 <= v <= len(LEVELS)]


def _body_at_edge(scan: CTVolume, body: BodyGeometry) -> bool:
    """Whether an endplate keypoint of the body lies within a slice of the scan's first or last
    slice (a dens or an arch reaching the edge leaves the body whole)."""
    points = [p for p in body.keypoints_lps_mm.values() if p is not None]
    if not points:
        return True
    k = scan.lps_to_index(np.asarray(points, float))[:, 2]
    return bool(np.any(k < 1.0) or np.any(k > scan.array.shape[0] - 2.0))


def _doubt(name: str, counts: dict[int, int], value: int, body: BodyGeometry) -> str:
    """Why this level's outline cannot give its heights ("" when it can)."""
    others = [n for v, n in counts.items() if v != value and LEVELS[v - 1] in REFERENCE_LEVELS]
    if name in REFERENCE_LEVELS and others and counts[value] < MIN_VOLUME_SHARE * float(np.median(others)):
        share = counts[value] / float(np.median(others))
        return f"the mask holds {share:.0%} of the volume of the neighbouring levels' (part of the vertebra only)"
    depth = body.v_posterior - body.v_anterior
    tallest = max((h for h in body.heights_mm.values() if h is not None), default=0.0)
    if not BODY_DEPTH_MM[0] <= depth <= BODY_DEPTH_MM[1] or tallest < MIN_TALLEST_MM:
        return f"the body's outline on its mid-sagittal plane is not a whole body ({depth:.0f} mm deep, " \
               f"{tallest:.0f} mm tall)"
    return ""


def _drop_implausible(body: BodyGeometry, notes: list[str]) -> tuple[dict, dict]:
    """The body's heights and keypoints without heights under :data:`MIN_HEIGHT_SHARE` of its tallest."""
    heights, keypoints = dict(body.heights_mm), dict(body.keypoints_lps_mm)
    tallest = max(h for h in heights.values() if h is not None)
    for line, h in body.heights_mm.items():
        if h is not None and h < MIN_HEIGHT_SHARE * tallest:
            heights[line] = None
            keypoints[f"{line}_superior"] = keypoints[f"{line}_inferior"] = None
            notes.append(f"the {line} height ({h:.1f} mm of {tallest:.1f} mm) runs through a gap in the mask: "
                         "not reported")
    return heights, keypoints


def _grade(levels: dict[str, LevelMeasurement]) -> None:
    """Height loss and Genant grade of every measured body (in place)."""
    def tallest(m: LevelMeasurement | None) -> float | None:
        if m is None or not m.heights_mm:
            return None
        known = [h for h in m.heights_mm.values() if h is not None]
        return max(known) if known else None

    for i, name in enumerate(LEVELS):
        m = levels.get(name)
        own = tallest(m)
        if own is None or name not in REFERENCE_LEVELS:
            continue
        neighbours = [tallest(levels.get(LEVELS[j])) for j in (i - 1, i + 1)
                      if 0 <= j < len(LEVELS) and LEVELS[j] in REFERENCE_LEVELS]
        neighbours = [h for h in neighbours if h is not None]
        expected = max(own, float(np.mean(neighbours))) if neighbours else own
        shortest = min(h for h in m.heights_mm.values() if h is not None)
        m.height_loss = round(max(0.0, 1.0 - shortest / expected), 4)
        m.genant_grade = genant_grade(m.height_loss)


__all__ = ["CORTEX_MARGIN_MM", "MAX_MEASURE_VOXEL_MM", "LevelMeasurement", "cancellous_mean_hu", "levels_cut_by_scan",
           "measure_levels"]
