"""Teeth, the maxilla's alveolar arch and metal dental work, for the fields of view that hold the face.

A head or head-and-neck CT shows both dental arches, often with fillings or crowns whose metal
saturates the scanner (3071 HU) and throws streaks across the slices it lies in: bright and dark
lines radiating from the metal, the densest objects in the scan and well away from the spine. The
models must learn that none of this is a vertebra.

Values: enamel about 2500–3000 HU, dentin 1500–2000 HU (CT practice); an adult arch holds 14–16
teeth, incisors about 8 mm wide, molars about 10 mm; the lower arch sits on the mandible's body,
the upper one about 10 mm above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import sdf
from .builders import bone_object, plain_shape
from .layout import Column, Frame, rotation_z
from .render import BoneHU, BoneObject

Array = np.ndarray
#: Enamel (cortex) and dentin (inside) of the teeth.
TOOTH_HU = BoneHU(cortical=2700.0, cancellous=1700.0, cortex_mm=1.2)
#: Metal fillings and crowns saturate the scanner.
METAL_HU = BoneHU(cortical=3071.0, cancellous=3071.0, cortex_mm=0.0)
#: Above this (HU, before blur) a voxel is metal: only the fillings reach it.
METAL_THRESHOLD_HU = 3000.0
#: Teeth per side of one arch, front to back (incisors, canine, premolars, molars).
TEETH_PER_SIDE = 7


@dataclass(frozen=True)
class Dentition:
    """One patient's teeth: which are missing and which carry metal."""

    missing: frozenset[tuple[str, int, int]]  # (arch, side, index)
    metal: frozenset[tuple[str, int, int]]


def sample_dentition(rng: np.random.Generator) -> Dentition:
    """Draw missing teeth (about 1 in 8) and metal work (none in a third of patients, else 1–6 teeth)."""
    teeth = [(arch, side, i) for arch in ("lower", "upper") for side in (-1, 1) for i in range(TEETH_PER_SIDE)]
    missing = {t for t in teeth if rng.random() < 0.12}
    kept = [t for t in teeth if t not in missing]
    n_metal = 0 if rng.random() < 0.35 else int(rng.integers(1, 7))
    back = [t for t in kept if t[2] >= 3] or kept  # fillings and crowns mostly on premolars and molars
    picks = rng.choice(len(back), size=min(n_metal, len(back)), replace=False) if n_metal else []
    return Dentition(frozenset(missing), frozenset(back[int(p)] for p in picks))


def dental_objects(col: Column, dentition: Dentition) -> tuple[list[BoneObject], list[BoneObject]]:
    """The maxilla's arch and the teeth (drawn as bone), and the metal work (drawn last).

    Args:
        col: the laid-out column (the arches hang off C2's position, as the mandible does).
        dentition: which teeth are there and which carry metal.

    Returns:
        (bone objects: maxillary arch and teeth, metal objects), all unlabelled (label 0).
    """
    c2 = col.frames["C2"].centre
    # The mandible's frame in builders._face_bones: arc of radius 44 mm around this point, its body
    # from w = -12 to +12 mm.
    jaw = np.array([0.0, c2[1] - 28.0, c2[2] - 4.0])
    maxilla = Frame(rotation_z(0.0), jaw + np.array([0.0, 0.0, 36.0]))
    bones = [bone_object("maxillary arch", 0, maxilla, (-52, -52, -6), (52, 14, 6),
                  lambda u, v, w: plain_shape(sdf.torus_arc(u, v, w, 0.0, 0.0, 45.0, 5.0, 1.1 * np.pi,
                                                            1.9 * np.pi, half_height=5.0)))]
    metal = []
    for arch, radius, height in (("lower", 43.0, 17.0), ("upper", 45.0, 28.0)):
        for side in (-1, 1):
            for i in range(TEETH_PER_SIDE):
                if (arch, side, i) in dentition.missing:
                    continue
                # From the midline (angle 1.5 pi, anterior) back along the arc to 1.15 / 1.85 pi.
                angle = 1.5 * np.pi + side * (0.01 + 0.34 * np.pi * (i + 0.5) / TEETH_PER_SIDE)
                half_width = 3.6 if i < 3 else (4.0 if i < 5 else 4.8)
                centre = jaw + np.array([radius * np.cos(angle), radius * np.sin(angle), height])
                frame = Frame(rotation_z(angle + np.pi / 2), centre)  # local u along the arc
                ext = (half_width + 1, 6.0, 7.0)
                bones.append(bone_object(f"tooth {arch} {side:+d} {i}", 0, frame, tuple(-e for e in ext), ext,
                                  lambda u, v, w, a=half_width: plain_shape(
                                      sdf.ellipsoid(u, v, w, (0.0, 0.0, 0.0), (a, 4.5, 5.5)))))
                if (arch, side, i) in dentition.metal:
                    # A crown or filling on the biting surface.
                    cap = 1.5 if arch == "lower" else -1.5
                    metal.append(bone_object(f"filling {arch} {side:+d} {i}", 0, frame, tuple(-e for e in ext), ext,
                                      lambda u, v, w, a=half_width, c=cap: plain_shape(
                                          sdf.ellipsoid(u, v, w, (0.0, 0.0, 3.0 * c), (a * 0.7, 3.0, 2.5)))))
    return bones, metal


def add_metal_streaks(hu: Array, rng: np.random.Generator, metal: Array, spacing_xyz: tuple[float, float, float],
                      strength_hu: float) -> Array:
    """Streaks from metal: bright and dark lines radiating from it across each slice it lies in.

    A crude stand-in for photon starvation and beam hardening: per slice, 6–14 rays through the
    metal's centre at random angles, alternately dark and bright, fading with distance (about
    80 mm), plus a dark band between the two farthest metal voxels when there are several pieces.

    Args:
        hu: (z, y, x) HU, modified in place.
        rng: random generator.
        metal: (z, y, x) bool, the metal voxels.
        spacing_xyz: voxel size (x, y, z) mm.
        strength_hu: peak amplitude of a ray (HU).
    """
    ny, nx = hu.shape[1:]
    sx, sy = spacing_xyz[0], spacing_xyz[1]
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    xx *= sx
    yy *= sy
    n_rays = int(rng.integers(6, 15))
    angles = rng.uniform(0.0, np.pi, n_rays)
    signs = np.where(np.arange(n_rays) % 2 == 0, -1.0, 1.0) * rng.uniform(0.5, 1.0, n_rays)
    for k in np.nonzero(metal.reshape(metal.shape[0], -1).any(axis=1))[0]:
        pts = np.argwhere(metal[k]).astype(np.float32) * np.array([sy, sx], np.float32)
        y0, x0 = pts.mean(axis=0)
        weight = np.float32(min(1.0, len(pts) * sx * sy / 20.0))  # a speck of metal streaks less
        r = np.hypot(xx - x0, yy - y0)
        fade = np.exp(-r / 80.0)
        for angle, sign in zip(angles, signs):
            dist = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
            hu[k] += np.float32(sign * strength_hu) * weight * fade * np.exp(-(dist ** 2) / 2.0)
        if len(pts) > 1:
            a, b = pts[np.argmin(pts[:, 1])], pts[np.argmax(pts[:, 1])]
            d = b - a
            length = float(np.hypot(*d))
            if length > 4.0:
                t = np.clip(((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / length ** 2, 0.0, 1.0)
                dist = np.hypot(yy - a[0] - t * d[0], xx - a[1] - t * d[1])
                hu[k] -= np.float32(0.8 * strength_hu) * weight * np.exp(-(dist ** 2) / 8.0)
    return hu


__all__ = ["Dentition", "METAL_HU", "METAL_THRESHOLD_HU", "TOOTH_HU", "add_metal_streaks", "dental_objects",
           "sample_dentition"]
