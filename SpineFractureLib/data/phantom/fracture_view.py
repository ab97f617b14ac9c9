"""Which of a phantom's fractures its scan would show.

A level is in view when its centre is; its fracture need not be. A scan that stops inside C2 (a
neck or head CT cut there) keeps the C2 body and loses the dens above it, a head CT that ends in
C4 keeps the upper half of C4 and loses a crush of its lower endplate. Drawn anyway, such a
fracture leaves the image untouched (or nearly: a few voxels at the scan's edge) while the truth
calls the level fractured: a label with nothing to learn from or to find, the worst kind of label
(seed 1845018, a neck cut through C2: the fractured and the intact scan of the same seed were the
same to the last voxel). The generator leaves out every fracture less than
:data:`MIN_SHARE_IN_VIEW` of whose region the scan holds, and the truth lists those levels in
``fractures_out_of_view``; the classifier's field-of-view augmentation keeps to the same share
(:mod:`~SpineFractureLib.train.fov_cut`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...volume import CTVolume
from .fractures import Fracture
from .render import BoneObject

Array = np.ndarray
#: Share of a fracture's region the scan must hold for the fracture to be drawn.
MIN_SHARE_IN_VIEW = 0.5
#: Step (mm) of the local grid on which a fracture's region is measured.
STEP_MM = 1.0


def share_in_view(obj: BoneObject, pose: Array, translation: Array, grid: CTVolume,
                  step_mm: float = STEP_MM) -> float:
    """Share of the fracture region of ``obj`` that lies inside the scan.

    The region is evaluated on a ``step_mm`` grid over the object's local bounding box, wherever the
    scan is, and each of its points is mapped to the scan's voxel indices.

    Args:
        obj: a vertebra to draw (its ``evaluate`` gives the fracture region).
        pose, translation: scanner LPS = pose @ anatomical + translation (mm).
        grid: the scan (its geometry only).
        step_mm: grid step (mm).

    Returns:
        The share (0..1); 0.0 where the region is empty (a fracture that misses the bone).
    """
    axes = [np.arange(lo, hi + step_mm / 2, step_mm, dtype=np.float32) for lo, hi in zip(obj.lo, obj.hi)]
    u, v, w = np.meshgrid(*axes, indexing="ij")
    region = obj.evaluate(u, v, w).region
    if not region.any():
        return 0.0
    local = np.stack([u[region], v[region], w[region]], axis=-1).astype(float)
    world = (local @ obj.frame_rotation.T + obj.frame_centre) @ pose.T + translation
    ijk = grid.lps_to_index(world)
    inside = np.all((ijk >= -0.5) & (ijk <= np.asarray(grid.shape_xyz) - 0.5), axis=1)
    return float(inside.mean())


def fractures_out_of_view(objects: Sequence[BoneObject], breaks: Mapping[str, Fracture], pose: Array,
                          translation: Array, grid: CTVolume) -> list[str]:
    """The fractured levels of ``breaks`` whose region the scan holds less than :data:`MIN_SHARE_IN_VIEW` of.

    Args:
        objects: what :func:`~.builders.build_objects` made of the column and ``breaks`` (each
            vertebra named by its level).
        breaks: fractures by level name.
        pose, translation, grid: as for :func:`share_in_view`.
    """
    by_name = {obj.name: obj for obj in objects}
    return [lv for lv in breaks if share_in_view(by_name[lv], pose, translation, grid) < MIN_SHARE_IN_VIEW]


__all__ = ["MIN_SHARE_IN_VIEW", "fractures_out_of_view", "share_in_view"]
