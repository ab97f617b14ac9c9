"""Soft tissues of the trunk below the shoulders (HU), in anatomical mm: body wall, lungs,
mediastinum and heart, diaphragm, liver, spleen, kidneys and bowel gas, with contrast phases.

Coarse on purpose: the trunk is there so that the models see what is *not* a cervical vertebra
(ribs, sternum, thoracic and lumbar bones, a bright aorta, air-filled lungs and bowel). HU from CT
practice: lung -870..-820; unenhanced blood 40-50, aorta 250-450 in the arterial phase and
150-220 in the portal-venous one; liver 55-65 unenhanced, 100-130 venous; kidney cortex about
180 arterial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import Column
from .tissues import SoftTissue

Array = np.ndarray
#: Contrast phases a phantom can be drawn in.
CONTRAST_PHASES = ("none", "arterial", "venous")
#: The trunk outline starts this far (mm) below T1's centre; above it the neck's outline holds.
SHOULDER_BELOW_T1_MM = 30.0


@dataclass(frozen=True)
class Trunk:
    """Per-patient trunk parameters (mm, HU); centres of the gas pockets relative to the outline."""

    half_width: float
    half_depth: float
    front_shift: float  # the body's centre lies this far anterior of the spine
    lung_hu: float
    organ_hu: dict[str, float]  # blood, myocardium, liver, spleen, kidney, abdomen
    gas: tuple[tuple[float, float, float, float], ...]  # (x / hw, (y - cy) / hd, z below the dome, radius)
    phase: str


def sample_trunk(rng: np.random.Generator, tissue: SoftTissue, phase: str) -> Trunk:
    """Draw a patient's trunk; every phase's HU are drawn so the phase changes nothing else."""
    if phase not in CONTRAST_PHASES:
        raise ValueError(f"contrast must be one of {CONTRAST_PHASES}, got {phase!r}")
    draws = {  # organ: (none, arterial, venous)
        "blood": (rng.uniform(40, 50), rng.uniform(250, 450), rng.uniform(150, 220)),
        "myocardium": (rng.uniform(40, 50), rng.uniform(90, 120), rng.uniform(100, 130)),
        "liver": (rng.uniform(55, 65), rng.uniform(70, 90), rng.uniform(100, 130)),
        "spleen": (rng.uniform(45, 50), rng.uniform(100, 130), rng.uniform(110, 130)),
        "kidney": (rng.uniform(30, 35), rng.uniform(160, 200), rng.uniform(150, 190)),
    }
    k = CONTRAST_PHASES.index(phase)
    organ = {name: float(v[k]) for name, v in draws.items()} | {"abdomen": float(rng.uniform(15, 35))}
    n_gas = int(rng.integers(5, 13))
    gas = tuple((float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.8, 0.1)), float(rng.uniform(70, 200)),
                 float(rng.uniform(7, 20))) for _ in range(n_gas))
    return Trunk(half_width=tissue.neck_half_width * 2.8, half_depth=tissue.neck_half_depth * rng.uniform(1.55, 1.8),
                 front_shift=float(rng.uniform(32, 45)), lung_hu=float(rng.uniform(-870, -820)),
                 organ_hu=organ, gas=gas, phase=phase)


def outline(col: Column, tissue: SoftTissue, trunk: Trunk, z: Array) -> tuple[Array, Array, Array]:
    """Half-width, half-depth and centre y (mm) of the trunk's cross-section at heights ``z``.

    Continuous with the neck's shoulder outline at :data:`SHOULDER_BELOW_T1_MM` below T1.
    """
    z_sh = col.frames["T1"].centre[2] - SHOULDER_BELOW_T1_MM
    b = np.clip((z_sh - z) / 60.0, 0.0, 1.0)
    waist = np.clip((col.frames["T10"].centre[2] - z) / 80.0, 0.0, 1.0)
    half_w = trunk.half_width * (1.0 - 0.12 * waist)
    half_d = tissue.neck_half_depth * 1.4 * (1 - b) + trunk.half_depth * b
    centre_y = col.body_y(z) - (12.0 * (1 - b) + trunk.front_shift * b)
    return half_w, half_d, centre_y


def diaphragm_z(col: Column, x: Array, dy: Array) -> Array:
    """Height (mm) of the diaphragm's domes above (x, dy = y - body centre); the right one higher."""
    top = col.frames["T10"].centre[2] + 20.0
    return top - 0.003 * x ** 2 - 0.0015 * dy ** 2 + 10.0 * (x < 0)


def _ellipsoid(x, y, z, centre, axes, z_span: tuple[float, float] | None = None) -> Array:
    """Inside an axis-aligned ellipsoid (points as 1-D arrays; x and y centre and axes may be arrays
    of their shape, the z centre and axis are numbers).

    Only points within the z extent (and 0.1 % more) are evaluated: outside it the z term alone
    exceeds 1, so the answer is the same as evaluating everywhere, at a fraction of the cost.
    ``z_span``: (lowest, highest) of ``z``, known to the caller: an ellipsoid wholly outside it is
    not looked at point by point.
    """
    inside = np.zeros(np.shape(z), bool)
    reach = abs(axes[2]) * 1.001
    if z_span is not None and (z_span[1] < centre[2] - reach or z_span[0] > centre[2] + reach):
        return inside
    near = np.abs(z - centre[2]) <= reach
    if not near.any():
        return inside
    cx, cy, ax, ay = (np.asarray(v)[near] if np.ndim(v) else v for v in (centre[0], centre[1], axes[0], axes[1]))
    xs, ys, zs = x[near], y[near], z[near]
    inside[near] = (((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 + ((zs - centre[2]) / axes[2]) ** 2) <= 1.0
    return inside


def paint_trunk(hu: Array, x: Array, y: Array, z: Array, col: Column, tissue: SoftTissue, trunk: Trunk) -> Array:
    """Overwrite ``hu`` below the shoulders with the trunk's tissues (arrays of one shape; in place).

    Args:
        hu: HU of the neck's tissues at the same points (:func:`~.tissues.soft_tissue_hu`).
        x, y, z: anatomical mm.
        col: the extended column (needs T10, L1).
        tissue, trunk: the patient's soft-tissue and trunk parameters.

    Returns:
        ``hu``.
    """
    z_t1 = col.frames["T1"].centre[2]
    sel = z < z_t1 - SHOULDER_BELOW_T1_MM
    if not sel.any():
        return hu
    xs, ys, zs = x[sel], y[sel], z[sel]
    span = (float(zs.min()), float(zs.max()))
    y_sp = col.body_y(zs)
    hw, hd, cy = outline(col, tissue, trunk, zs)
    r = np.sqrt((xs / hw) ** 2 + ((ys - cy) / hd) ** 2)
    out = np.full(xs.shape, -1000.0, np.float32)
    out[r <= 1.0] = tissue.fat_hu
    out[r <= 1.0 - tissue.fat_thickness / np.minimum(hw, hd)] = tissue.muscle_hu
    wall = tissue.fat_thickness + 14.0
    hw_in, hd_in = hw - wall, hd - wall
    cavity = (((xs / hw_in) ** 2 + ((ys - cy) / hd_in) ** 2) <= 1.0) & (ys < y_sp + 12.0)
    dy = ys - cy
    zd = diaphragm_z(col, xs, dy)
    thorax, abdomen = cavity & (zs > zd), cavity & (zs <= zd)
    organ = trunk.organ_hu
    out[thorax] = -40.0  # mediastinal fat and vessels, averaged
    # Lung domes rise to where the neck's outline takes over (the neck draws the apices above)
    z_apex = z_t1 - SHOULDER_BELOW_T1_MM + 5.0
    taper = np.sqrt(np.clip((z_apex - zs) / 100.0, 0.0, 1.0))
    for side in (-1.0, 1.0):
        ax, ay = 0.46 * hw_in * taper + 1e-3, 0.8 * hd_in * taper + 1e-3
        lung = (((xs - side * 0.48 * hw_in) / ax) ** 2 + ((dy - 0.05 * hd_in) / ay) ** 2) <= 1.0
        out[lung & thorax & (np.abs(xs - 0.1 * hw_in) > 22.0)] = trunk.lung_hu
    z_t8 = col.frames["T8"].centre[2]
    heart_c = (0.15 * hw_in, cy - 0.2 * hd_in, z_t8 - 5.0)
    heart = _ellipsoid(xs, ys, zs, heart_c, (0.36 * hw_in, 0.45 * hd_in, 58.0), span) & thorax
    out[heart] = organ["myocardium"]
    out[heart & _ellipsoid(xs, ys, zs, heart_c, (0.25 * hw_in, 0.32 * hd_in, 42.0), span)] = organ["blood"]
    # Trachea down to the carina (about T5), where the neck's airway continues
    airway_y = y_sp - 20.0 - tissue.airway_radius
    trachea = ((xs / (1.2 * tissue.airway_radius)) ** 2 + ((ys - airway_y) / tissue.airway_radius) ** 2) <= 1.0
    out[trachea & (r <= 1.0) & (zs > col.frames["T5"].centre[2])] = -1000.0

    out[abdomen] = organ["abdomen"]
    dome = col.frames["T10"].centre[2] + 20.0
    solid = np.zeros(xs.shape, bool)
    for name, centre, axes in (("liver", (-0.35 * hw_in, 0.05 * hd_in, dome - 60.0), (0.58 * hw_in, 0.85 * hd_in, 80.0)),
                               ("spleen", (0.6 * hw_in, 0.35 * hd_in, dome - 45.0), (0.22 * hw_in, 0.32 * hd_in, 50.0))):
        m = _ellipsoid(xs, dy, zs, centre, axes, span) & abdomen
        out[m] = organ[name]
        solid |= m
    z_l1 = col.frames["L1"].centre[2]
    for side in (-1.0, 1.0):
        centre = (side * (0.3 * hw_in + 10.0), 0.0, z_l1 - (15.0 if side < 0 else 0.0))
        near = abdomen | ((r <= 1.0) & (ys < y_sp + 30.0))
        fat = _ellipsoid(xs, ys - y_sp, zs, centre, (40.0, 34.0, 70.0), span) & near & ~solid
        out[fat] = tissue.fat_hu
        kidney = _ellipsoid(xs, ys - y_sp, zs, centre, (28.0, 24.0, 55.0), span) & near
        out[kidney] = organ["kidney"]
        solid |= kidney
    for gx, gy, gz, gr in trunk.gas:
        out[_ellipsoid(xs, dy, zs, (gx * hw_in, gy * hd_in, dome - gz), (gr, gr, gr), span) & abdomen & ~solid] = -950.0
    hu[sel] = out
    return hu


__all__ = ["CONTRAST_PHASES", "SHOULDER_BELOW_T1_MM", "Trunk", "diaphragm_z", "outline", "paint_trunk",
           "sample_trunk"]
