"""Per-level truth of a phantom: presence, fracture, Genant grade, body heights and keypoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...grading import genant_grade
from ...volume import CTVolume
from . import anatomy, fractures
from .fractures import Fracture
from .layout import Column

def level_truth(level: str, col: Column, f: Fracture | None, present: bool, pose: np.ndarray,
                translation: np.ndarray, ct: CTVolume, labels: np.ndarray,
                cancellous_hu: float | None = None, shape: Callable[..., np.ndarray] | None = None,
                box: tuple[slice, ...] | None = None) -> dict[str, Any]:
    """JSON-ready truth of one level.

    ``keypoints_lps_mm`` holds the six body keypoints (anterior/middle/posterior, each superior
    and inferior endplate, on the mid-sagittal line of the body) in scanner LPS mm;
    ``heights_mm`` the distances between each pair. C1 has no body: both are None.
    ``cancellous_hu`` is the HU the level's trabecular bone was drawn with (before blur and
    noise; compressed bone under a depressed endplate is drawn 120 HU denser).
    ``shape``: the signed distance the level was drawn with when it is not the procedural box
    body (a real-shape template, whose endplates are rounded): the heights are then measured
    along w on that shape, not read from the endplate functions. ``box``: where the level's voxels
    lie in ``labels`` (``scipy.ndimage.find_objects``), so that the centroid reads that box only (a
    whole-body volume is 157 M voxels: a full pass per level cost 2 s of its 20 s); None reads all.
    """
    s = col.shapes[level]
    frame = col.frames[level]
    to_world = lambda local: pose @ frame.to_anatomical(np.asarray(local, float)) + translation  # noqa: E731
    out: dict[str, Any] = {
        "present": present,
        "fractured": f is not None,
        "kind": None if f is None else f.label,
        "genant_grade": 0,
        "heights_mm": None,
        "keypoints_lps_mm": None,
        "cancellous_hu": None if cancellous_hu is None else round(float(cancellous_hu), 1),
    }
    if s.kind != "atlas":
        top, bottom = fractures.endplates(s, f)
        flat_top, flat_bottom = fractures.endplates(s, None)
        keypoints, heights, reduction = {}, {}, 0.0
        for name, frac in anatomy.HEIGHT_POINTS.items():
            v = np.array([frac * s.depth / 2])
            if shape is None:
                sup, inf = float(top(v)[0]), float(bottom(v)[0])
                intact = s.height
            else:
                sup, inf = _body_extent(shape, s, top, bottom, float(v[0]))
                intact = np.subtract(*_body_extent(shape, s, flat_top, flat_bottom, float(v[0])))
            keypoints[f"{name}_superior"] = np.round(to_world([0.0, v[0], sup]), 3).tolist()
            keypoints[f"{name}_inferior"] = np.round(to_world([0.0, v[0], inf]), 3).tolist()
            heights[name] = round(sup - inf, 3)
            reduction = max(reduction, 1.0 - (sup - inf) / max(float(intact), 1e-6))
        out["heights_mm"] = heights
        out["keypoints_lps_mm"] = keypoints
        out["genant_grade"] = genant_grade(reduction) if f is not None and f.kind == "compression" else 0
    box = box or tuple(slice(0, n) for n in labels.shape)
    mask = labels[box] == s.label
    if present and mask.any():
        kji = np.argwhere(mask).mean(axis=0) + [b.start for b in box]
        out["centroid_lps_mm"] = np.round(ct.index_to_lps(kji[::-1]), 3).tolist()
    else:
        out["centroid_lps_mm"] = np.round(to_world([0.0, 12.0 if s.kind == "atlas" else 0.0, 0.0]), 3).tolist()
    return out


def _body_extent(shape: Callable[..., np.ndarray], s, top, bottom, v: float, step: float = 0.05) -> tuple[float, float]:
    """Superior and inferior w (mm) of the bone run through the body's mid-height on the line
    (u = 0, v): where ``shape`` is inside, starting from the endplates' middle."""
    w = np.arange(-s.height, s.height + step, step, dtype=np.float32)
    inside = shape(np.zeros_like(w), np.full_like(w, v), w, s, top, bottom) <= 0
    mid = (float(top(np.array([v]))[0]) + float(bottom(np.array([v]))[0])) / 2
    i = int(np.argmin(np.abs(w - mid)))
    if not inside[i]:
        return mid, mid
    hi = i + int(np.argmin(inside[i:])) - 1 if not inside[i:].all() else len(w) - 1
    lo = i - int(np.argmin(inside[i::-1])) + 1 if not inside[:i + 1].all() else 0
    return float(w[hi] + step / 2), float(w[lo] - step / 2)
