"""Fractures drawn for the procedural shapes, moved onto the bone of the real-shape (mesh) vertebrae.

:func:`~SpineFractureLib.data.phantom.fractures.sample_fracture` places posterior-element cracks
where the procedural vertebra has its pedicles and C1 ring. The mesh vertebrae have them
elsewhere: a C1 arch crack would fall beside the real arch (a fracture in the truth with no break
in the image, the worst kind of label), and a pedicle crack on the back of the body. So those
two kinds are moved to the nearest bone of the right part of the mesh, the C1 crack turned
across the arch there; body fractures (compressions, body cracks, teardrops, dens) are placed
from the body's width, depth and height, which :func:`~.mesh_anatomy.mesh_shape` already gives.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .anatomy import LevelShape
from .fractures import Fracture
from .mesh_anatomy import TEMPLATE_SPACING, scale_for, template

Array = np.ndarray
#: Bone at least this deep (mm) inside the template is where a crack may be centred.
DEPTH_MM = 1.0
#: C1's arches in its frame (mm, origin on the dens axis): the anterior arch lies in front of
#: the dens (v below this), the posterior arch behind the lateral masses (v above this); both
#: within ARCH_HALF_WIDTH_MM of the midline.
C1_FRONT_V_MM, C1_BACK_V_MM, ARCH_HALF_WIDTH_MM = -4.0, 22.0, 16.0
#: A pedicle crack is centred at least this far (mm) behind the body's posterior wall (clear
#: of the body's posterolateral lips, which reach back at mid-height).
PEDICLE_BEHIND_MM = 3.0


def fit_fracture(f: Fracture, s: LevelShape) -> Fracture:
    """``f`` as drawn for the procedural shape of ``s``, placed on the mesh shape of ``s``.

    C1 arch cracks go to the nearest point of the same arch (anterior or posterior) of the mesh
    ring, their plane across the arch's local direction; pedicle and lamina cracks (a "break"
    of radius 6 mm behind the body) to the nearest bone at least PEDICLE_BEHIND_MM behind the
    body on the same side. Other
    fractures are returned as they are.
    """
    if f.kind == "arch":
        front = f.point[1] < 12.0  # the procedural ring's centre
        pts = _bone_points(s)
        keep = (np.abs(pts[:, 0]) <= ARCH_HALF_WIDTH_MM) & (
            pts[:, 1] <= C1_FRONT_V_MM if front else pts[:, 1] >= C1_BACK_V_MM)
        point = _nearest(pts[keep], f.point)
        return replace(f, point=point, normal=_local_direction(pts, point))
    if f.kind == "break" and f.radius == 6.0 and f.point[1] > s.depth / 2:
        pts = _bone_points(s)
        keep = (pts[:, 1] > s.depth / 2 + PEDICLE_BEHIND_MM) & (np.sign(pts[:, 0]) == np.sign(f.point[0]))
        return replace(f, point=_nearest(pts[keep], f.point))
    return f


def _bone_points(s: LevelShape) -> Array:
    """(u, v, w) mm of the template voxels at least DEPTH_MM inside the bone, scaled to ``s``."""
    t = template(s.name)
    k = scale_for(s)
    idx = np.argwhere(t.sdf <= -DEPTH_MM / k)  # (w, v, u) indices
    return (t.origin + idx[:, ::-1] * TEMPLATE_SPACING) * k


def _nearest(points: Array, target: Array) -> Array:
    if not len(points):
        raise ValueError("no bone of the mesh template where this fracture belongs")
    return points[int(np.argmin(((points - target) ** 2).sum(axis=1)))].astype(float)


def _local_direction(points: Array, at: Array, radius_mm: float = 5.0) -> Array:
    """Unit direction in which the bone within ``radius_mm`` of ``at`` runs longest (its
    principal axis): along an arch, so a plane with this normal crosses it."""
    near = points[((points - at) ** 2).sum(axis=1) <= radius_mm ** 2]
    _, vectors = np.linalg.eigh(np.cov((near - near.mean(axis=0)).T))
    return vectors[:, -1] / np.linalg.norm(vectors[:, -1])


__all__ = ["fit_fracture"]
