"""Per-level truth of a phantom: presence, fracture, Genant grade, body heights and keypoints."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...grading import genant_grade
from ...volume import CTVolume
from . import anatomy, fractures
from .fractures import Fracture
from .layout import Column

def level_truth(level: str, col: Column, f: Fracture | None, present: bool, pose: np.ndarray,
                translation: np.ndarray, ct: CTVolume, labels: np.ndarray,
                cancellous_hu: float | None = None) -> dict[str, Any]:
    """JSON-ready truth of one level.

    ``keypoints_lps_mm`` holds the six body keypoints (anterior/middle/posterior, each superior
    and inferior endplate, on the mid-sagittal line of the body) in scanner LPS mm;
    ``heights_mm`` the distances between each pair. C1 has no body: both are None.
    ``cancellous_hu`` is the HU the level's trabecular bone was drawn with (before blur and
    noise; compressed bone under a depressed endplate is drawn 120 HU denser).
    """
    s = col.shapes[level]
    frame = col.frames[level]
    to_world = lambda local: pose @ frame.to_anatomical(np.asarray(local, float)) + translation  # noqa: E731
    out: dict[str, Any] = {
        "present": present,
        "fractured": f is not None,
        "kind": None if f is None else (f"{f.kind}:{f.profile}" if f.profile else f.kind),
        "genant_grade": 0,
        "heights_mm": None,
        "keypoints_lps_mm": None,
        "cancellous_hu": None if cancellous_hu is None else round(float(cancellous_hu), 1),
    }
    if s.kind != "atlas":
        top, bottom = fractures.endplates(s, f)
        keypoints, heights = {}, {}
        for name, frac in anatomy.HEIGHT_POINTS.items():
            v = np.array([frac * s.depth / 2])
            sup, inf = float(top(v)[0]), float(bottom(v)[0])
            keypoints[f"{name}_superior"] = np.round(to_world([0.0, v[0], sup]), 3).tolist()
            keypoints[f"{name}_inferior"] = np.round(to_world([0.0, v[0], inf]), 3).tolist()
            heights[name] = round(sup - inf, 3)
        out["heights_mm"] = heights
        out["keypoints_lps_mm"] = keypoints
        reduction = max(1.0 - h / s.height for h in heights.values())
        out["genant_grade"] = genant_grade(reduction) if f is not None and f.kind == "compression" else 0
    mask = labels == s.label
    if present and mask.any():
        kji = np.argwhere(mask).mean(axis=0)
        out["centroid_lps_mm"] = np.round(ct.index_to_lps(kji[::-1]), 3).tolist()
    else:
        out["centroid_lps_mm"] = np.round(to_world([0.0, 12.0 if s.kind == "atlas" else 0.0, 0.0]), 3).tolist()
    return out
