"""The vertebral body on its mid-sagittal plane: six keypoints and three heights.

The level's mask is sampled on its mid-sagittal plane (see :mod:`.frame`) at
:data:`SAMPLE_MM`, by linear interpolation, so that its edge (the 0.5 level) falls between
the voxel centres inside and outside it. On that plane the body is the largest piece of the
mask in front of the level's centroid (the spinal canal separates it from the posterior arch),
with the pieces close to it (fragments). Its anterior-posterior extent gives
the body's depth D; the heights are read on the lines at ``HEIGHT_POINTS`` × D/2 from the
body's middle (anterior, middle, posterior), from the inferior to the superior endplate.

Accuracy: about half a voxel of the label map along the superior axis (a label map on 3 mm
slices cannot give heights to 1 mm). C1 has no body; C2's middle line runs into the dens, so
its middle height is not measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..grading import HEIGHT_POINTS
from ..volume import CTVolume
from .frame import VertebraFrame

#: Sampling step on the mid-sagittal plane (mm) and its extent (v, w half-sizes, mm).
SAMPLE_MM = 0.25
PLANE_HALF_MM = (45.0, 30.0)


@dataclass
class BodyGeometry:
    """A body's outline on its mid-sagittal plane (local mm; see :class:`.frame.VertebraFrame`).

    Attributes:
        v_anterior, v_posterior: the body's anterior and posterior edge (v, mm).
        heights_mm: anterior, middle, posterior height (mm); None where not measurable.
        keypoints_lps_mm: ``{name}_superior`` / ``{name}_inferior`` for each height line, LPS mm.
    """

    v_anterior: float
    v_posterior: float
    heights_mm: dict[str, float | None]
    keypoints_lps_mm: dict[str, list[float] | None]


def sample_plane(ct: CTVolume, mask: np.ndarray, frame: VertebraFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mask (0..1) on the frame's mid-sagittal plane.

    Args:
        ct: the grid of ``mask``.
        mask: (z, y, x) bool mask of one level.
        frame: the level's frame.

    Returns:
        The v and w sample positions (mm) and the sampled values, shape (len(w), len(v)).
    """
    hv, hw = PLANE_HALF_MM
    v = np.arange(-hv, hv + 1e-9, SAMPLE_MM)
    w = np.arange(-hw, hw + 1e-9, SAMPLE_MM)
    vv, ww = np.meshgrid(v, w)
    local = np.stack([np.zeros_like(vv), vv, ww], axis=-1)
    ijk = ct.lps_to_index(frame.to_lps(local))
    values = ndimage.map_coordinates(mask.astype(np.float32), [ijk[..., 2], ijk[..., 1], ijk[..., 0]],
                                     order=1, mode="constant", cval=0.0)
    return v, w, values


def _column_span(column: np.ndarray, w: np.ndarray, nearest_to: float | None = None) -> tuple[float, float] | None:
    """Inferior and superior edge (w, mm) of the body on one line.

    A fracture gap between the body's pieces is spanned (the height is the bone's outline, not
    its largest piece); with ``nearest_to`` (C2, whose dens rises above the body and can cross
    the anterior line) only the run of bone nearest that height counts.
    """
    idx = np.flatnonzero(column)
    if idx.size == 0:
        return None
    if nearest_to is not None:
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        idx = min(runs, key=lambda r: 0.0 if w[r[0]] <= nearest_to <= w[r[-1]] else
                  min(abs(w[r[0]] - nearest_to), abs(w[r[-1]] - nearest_to)))
    # The edge lies half a sample beyond the last sample inside.
    return float(w[idx[0]] - SAMPLE_MM / 2), float(w[idx[-1]] + SAMPLE_MM / 2)


#: Tilts (degrees, about the frame's u axis) tried to square the body's outline on the plane.
TILTS = np.arange(-25.0, 25.01, 0.5)


#: A piece of mask this close (mm) to the body on the plane is a fragment of it (a teardrop
#: corner, the far side of a fracture gap) and counts in its heights.
FRAGMENT_REACH_MM = 6.0


def _body_piece(v: np.ndarray, values: np.ndarray, fragments: bool = False) -> np.ndarray | None:
    """The body on the sampled plane: the largest piece of mask in front of the centroid (v < 0),
    with the front pieces within :data:`FRAGMENT_REACH_MM` of it when ``fragments``."""
    inside = values >= 0.5
    pieces, n = ndimage.label(inside, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sizes = ndimage.sum(inside, pieces, index=np.arange(1, n + 1))
    centres = ndimage.center_of_mass(inside, pieces, index=np.arange(1, n + 1))
    front = [i + 1 for i in range(n) if np.interp(centres[i][1], np.arange(len(v)), v) < 0.0]
    if not front:
        return None
    body = pieces == max(front, key=lambda i: sizes[i - 1])
    if fragments and len(front) > 1:
        near = ndimage.distance_transform_edt(~body) * SAMPLE_MM <= FRAGMENT_REACH_MM
        touching = set(np.unique(pieces[near])) & set(front)
        body = np.isin(pieces, sorted(touching))
    return body


def square_tilt(v: np.ndarray, w: np.ndarray, body: np.ndarray) -> float:
    """The tilt (radians) about u that makes the body's outline on the plane fit the smallest
    upright box: the body's own superior axis (its endplates), which the column's direction
    between neighbouring centroids only approximates."""
    rows, cols = np.nonzero(body)
    pv, pw = v[cols], w[rows]

    def area(deg: float) -> float:
        a = np.radians(deg)
        rv, rw = pv * np.cos(a) + pw * np.sin(a), -pv * np.sin(a) + pw * np.cos(a)
        return float(np.ptp(rv) * np.ptp(rw))

    return float(np.radians(min(TILTS, key=area)))


def tilted(frame: VertebraFrame, angle: float) -> VertebraFrame:
    """The frame turned about its u axis so that local (v, w) become the box-aligned axes."""
    c, s = np.cos(angle), np.sin(angle)
    return VertebraFrame(frame.origin, frame.u, c * frame.v + s * frame.w, -s * frame.v + c * frame.w, frame.symmetry)


def measure_body(ct: CTVolume, mask: np.ndarray, frame: VertebraFrame,
                 has_dens: bool = False) -> tuple[BodyGeometry, VertebraFrame] | None:
    """Keypoints and heights of one vertebral body.

    Args:
        ct: the grid of ``mask``.
        mask: (z, y, x) bool mask of the level.
        frame: the level's frame (its superior axis is refined here, see :func:`square_tilt`).
        has_dens: the level is C2 (its middle height is left out: the dens rises there).

    Returns:
        The body geometry and the refined frame it is expressed in, or None when no body can be
        found on the plane.
    """
    v, w, values = sample_plane(ct, mask, frame)
    body = _body_piece(v, values)
    if body is None:
        return None
    frame = tilted(frame, square_tilt(v, w, body))
    v, w, values = sample_plane(ct, mask, frame)
    body = _body_piece(v, values, fragments=True)
    if body is None:
        return None
    cols = np.flatnonzero(body.any(axis=0))
    v_ant, v_post = float(v[cols[0]] - SAMPLE_MM / 2), float(v[cols[-1]] + SAMPLE_MM / 2)
    rows = np.flatnonzero(body.any(axis=1))
    w_centre = float(np.mean(w[rows])) if has_dens else None
    middle, half = (v_ant + v_post) / 2, (v_post - v_ant) / 2
    heights: dict[str, float | None] = {}
    keypoints: dict[str, list[float] | None] = {}
    for name, frac in HEIGHT_POINTS.items():
        vp = middle + frac * half
        line = body[:, int(np.argmin(np.abs(v - vp)))]
        run = None if (has_dens and name == "middle") else _column_span(line, w, w_centre)
        if run is None:
            heights[name] = None
            keypoints[f"{name}_superior"] = keypoints[f"{name}_inferior"] = None
            continue
        lo, hi = run
        heights[name] = round(hi - lo, 2)
        keypoints[f"{name}_superior"] = np.round(frame.to_lps(np.array([0.0, vp, hi])), 2).tolist()
        keypoints[f"{name}_inferior"] = np.round(frame.to_lps(np.array([0.0, vp, lo])), 2).tolist()
    return BodyGeometry(v_ant, v_post, heights, keypoints), frame


__all__ = ["BodyGeometry", "HEIGHT_POINTS", "PLANE_HALF_MM", "SAMPLE_MM", "TILTS", "measure_body", "sample_plane",
           "square_tilt", "tilted"]
