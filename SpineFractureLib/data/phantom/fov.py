"""Fields of view a user loads, beyond the neck: where the scan starts and stops, its matrix and
voxel size, and the patient's (small) pose on the table for a trunk scan.

Kinds (DESIGN §5): ``neck`` (the C-spine protocol: above C1 to T1, the generator's original
field of view), ``head-neck`` (vertex down to C5–T1, the whole skull in view), ``chest`` (top
between C5 and C7, down to L1), ``abdomen`` (T9–T11 to below L3: no cervical spine), ``head``
(vertex down to just above C1: no cervical spine), ``whole-body`` (vertex to below L3; the
pelvis is not modelled yet) and ``head-upper-neck`` (vertex down to C2–C5: a head CT that reaches
the upper neck; the shipped segmentation finds no level on the real head-and-neck series cut so).
The head, head-and-neck, head-and-upper-neck and whole-body kinds have teeth and metal
dental work (``dental.py``); the rest of the face is not modelled beyond the mandible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import rotation_x, rotation_y, rotation_z

Array = np.ndarray
FOV_KINDS = ("neck", "head-neck", "chest", "abdomen", "head", "whole-body", "head-upper-neck")
#: Kinds whose field of view is the head's (the whole skull, its width and voxel sizes).
HEAD_FOVS = ("head", "head-neck", "head-upper-neck")
#: Kinds that reach below the shoulders: they draw T3–L3, ribs, the trunk's organs and the aorta.
TRUNK_FOVS = ("chest", "abdomen", "whole-body")
#: Slice spacings (mm) of clinical chest, abdomen and trauma protocols.
TRUNK_SLICE_MM = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
HEAD_SLICE_MM = (0.625, 1.0, 1.25, 2.5, 5.0)


@dataclass(frozen=True)
class Extent:
    """A field of view in scanner mm: z from ``bottom`` to ``top``, in-plane ``fov_xy`` wide,
    centred on ``centre_xy``; in-plane voxel size drawn in ``in_plane_mm``, slices from ``slices_mm``."""

    top: float
    bottom: float
    fov_xy: float
    centre_xy: tuple[float, float]
    in_plane_mm: tuple[float, float]
    slices_mm: tuple[float, ...]


def extent(kind: str, rng: np.random.Generator, world: dict[str, Array]) -> Extent:
    """The field of view of a kind other than ``neck``, from the levels' scanner positions.

    Args:
        kind: one of :data:`FOV_KINDS` but ``neck``.
        rng: the trunk's random stream.
        world: scanner LPS (mm) of each level's body centre (C1..L3 for trunk kinds).
    """
    z = {n: float(p[2]) for n, p in world.items()}
    vertex = z["C1"] + rng.uniform(140.0, 160.0)
    if kind in HEAD_FOVS:
        c1 = world["C1"]
        if kind == "head":
            bottom = z["C1"] + rng.uniform(15.0, 35.0)
        elif kind == "head-neck":
            bottom = rng.uniform(z["T1"] - 10.0, z["C5"] - 8.0)
        else:  # from just under C2's centre to C5's lower half
            bottom = rng.uniform(z["C5"] - 4.0, z["C2"] - 4.0)
        return Extent(vertex, bottom, rng.uniform(220.0, 260.0), (float(c1[0]), float(c1[1]) + 8.0), (0.45, 0.8),
                      HEAD_SLICE_MM)
    centre = world["T8"]
    centre_xy = (float(centre[0]), float(centre[1]) - 45.0)
    low = z["L3"] - rng.uniform(10.0, 25.0)
    if kind == "chest":
        top = rng.uniform(z["C7"] - 3.0, z["C5"] + 3.0)
        return Extent(top, z["L1"] - rng.uniform(0.0, 30.0), rng.uniform(320.0, 420.0), centre_xy,
                      (0.6, 0.98), TRUNK_SLICE_MM)
    if kind == "abdomen":
        return Extent(rng.uniform(z["T11"], z["T9"]), low, rng.uniform(320.0, 420.0), centre_xy,
                      (0.6, 0.98), TRUNK_SLICE_MM)
    if kind == "whole-body":
        return Extent(vertex, low, rng.uniform(420.0, 500.0), centre_xy, (0.8, 0.98), TRUNK_SLICE_MM)
    raise ValueError(f"field of view must be one of {FOV_KINDS[1:]}, got {kind!r}")


def trunk_pose(rng: np.random.Generator, enabled: bool) -> Array:
    """A patient lying on the table (3×3): yaw and pitch ±3°, roll ±2° (the neck tilts more)."""
    if not enabled:
        return np.eye(3)
    yaw, pitch, roll = (np.radians(rng.uniform(-a, a)) for a in (3.0, 3.0, 2.0))
    return rotation_z(yaw) @ rotation_x(pitch) @ rotation_y(roll)


__all__ = ["Extent", "FOV_KINDS", "HEAD_FOVS", "HEAD_SLICE_MM", "TRUNK_FOVS", "TRUNK_SLICE_MM", "extent", "trunk_pose"]
