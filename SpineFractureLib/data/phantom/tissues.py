"""Soft tissues of the phantom's neck, head base and upper chest (HU), in anatomical mm.

Values from CT practice: fat about -100 HU, muscle and soft tissue 20–70, airway and outside
air -1000, lung -850, thyroid about 80 (iodine-rich), brain about 35.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import Column

Array = np.ndarray


@dataclass(frozen=True)
class SoftTissue:
    """Per-patient soft-tissue parameters."""

    neck_half_width: float  # mm, left-right, at mid-neck
    neck_half_depth: float  # mm, anterior-posterior
    fat_thickness: float  # mm of subcutaneous fat
    muscle_hu: float
    fat_hu: float
    airway_radius: float  # mm


def sample_soft_tissue(rng: np.random.Generator, size: float) -> SoftTissue:
    """Draw a patient's neck: body habitus varies more than the skeleton."""
    habitus = rng.uniform(0.9, 1.25)
    return SoftTissue(
        neck_half_width=58.0 * size * habitus,
        neck_half_depth=64.0 * size * habitus,
        fat_thickness=rng.uniform(4.0, 14.0) * habitus,
        muscle_hu=rng.uniform(35.0, 60.0),
        fat_hu=rng.uniform(-115.0, -85.0),
        airway_radius=rng.uniform(6.5, 9.0) * size,
    )


def soft_tissue_hu(x: Array, y: Array, z: Array, col: Column, t: SoftTissue) -> Array:
    """HU of everything but bone and discs at anatomical points (mm), arrays of one shape."""
    z_c1 = col.frames["C1"].centre[2]
    z_c7 = col.frames["C7"].centre[2]
    z_t1 = col.frames["T1"].centre[2]
    y_spine = col.body_y(z)
    # Outline: neck, widening to the shoulders below C7 and to the head above C1
    shoulders = np.clip((z_c7 - 5.0 - z) / 40.0, 0.0, 1.0)
    head = np.clip((z - z_c1 - 10.0) / 30.0, 0.0, 1.0)
    half_w = t.neck_half_width * (1 + 1.8 * _pow_inside(shoulders, 1.5) + 0.25 * head)
    half_d = t.neck_half_depth * (1 + 0.4 * shoulders + 0.45 * head)
    centre_y = y_spine - 12.0 + 10.0 * head
    r = np.sqrt((x / half_w) ** 2 + ((y - centre_y) / half_d) ** 2)
    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    fat_edge = 1.0 - t.fat_thickness / np.minimum(half_w, half_d)
    hu[r <= 1.0] = t.fat_hu
    hu[r <= fat_edge] = t.muscle_hu
    # Intermuscular fat planes behind the spine
    plane = (r <= fat_edge) & (np.abs(np.abs(x) - 0.45 * half_w) < 1.5) & (y > y_spine + 20)
    hu[plane] = t.fat_hu

    # Airway: pharynx to trachea, in front of the bodies
    airway_y = y_spine - 20.0 - t.airway_radius
    in_air = (((x / (1.2 * t.airway_radius)) ** 2 + ((y - airway_y) / t.airway_radius) ** 2) <= 1.0)
    hu[in_air & (z < z_c1 + 25.0)] = -1000.0
    # Thyroid lobes beside the trachea, C6 to T1; each ellipsoid is evaluated only in its z band
    # (outside it the z term alone exceeds 1: the same mask, without a pass over a whole head).
    band = np.abs(z - (z_c7 - 4.0)) <= 22.0 * 1.001
    xb, yb, zb, hub = x[band], y[band] - airway_y[band], z[band], hu[band]
    for side in (-1.0, 1.0):
        lobe = (((xb - side * (t.airway_radius + 9.0)) / 8.0) ** 2 + (yb / 9.0) ** 2
                + ((zb - (z_c7 - 4.0)) / 22.0) ** 2) <= 1.0
        hub[lobe & ~in_air[band]] = 80.0
    hu[band] = hub
    # Lung apices rise lateral to T1
    band = np.abs(z - (z_t1 - 45.0)) <= 55.0 * 1.001
    xb, yb, zb, hub = x[band], y[band] - y_spine[band], z[band], hu[band]
    for side in (-1.0, 1.0):
        apex = (((xb - side * (t.neck_half_width * 0.95 + 10.0)) / 38.0) ** 2 + ((yb - 8.0) / 45.0) ** 2
                + ((zb - (z_t1 - 45.0)) / 55.0) ** 2) <= 1.0
        hub[apex] = -850.0
    hu[band] = hub
    return hu


def _pow_inside(a: Array, p: float) -> Array:
    """``a ** p`` for ``a`` in [0, 1], computed only where it is strictly between (0 and 1 are
    fixed points): most of a large field of view lies wholly above or below a ramp."""
    out = a.copy()
    ramp = (a > 0.0) & (a < 1.0)
    out[ramp] = a[ramp] ** p
    return out
