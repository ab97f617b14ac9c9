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
from .tissues import SoftTissue, soft_tissue_hu

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


def outline(col: Column, tissue: SoftTissue, trunk: Trunk, z: Array,
            body_y: Array | None = None) -> tuple[Array, Array, Array]:
    """Half-width, half-depth and centre y (mm) of the trunk's cross-section at heights ``z``.

    Continuous with the neck's shoulder outline at :data:`SHOULDER_BELOW_T1_MM` below T1.
    ``body_y``: ``col.body_y(z)`` where the caller has it already.
    """
    z_sh = col.frames["T1"].centre[2] - SHOULDER_BELOW_T1_MM
    b = np.clip((z_sh - z) / 60.0, 0.0, 1.0)
    waist = np.clip((col.frames["T10"].centre[2] - z) / 80.0, 0.0, 1.0)
    half_w = trunk.half_width * (1.0 - 0.12 * waist)
    half_d = tissue.neck_half_depth * 1.4 * (1 - b) + trunk.half_depth * b
    centre_y = (col.body_y(z) if body_y is None else body_y) - (12.0 * (1 - b) + trunk.front_shift * b)
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

    Each organ is evaluated only at the points of the cavity it lies in (lungs and heart in the
    thorax, the solid organs and gas in the abdomen): the same values as evaluating every point and
    masking afterwards, at a fraction of the passes over a whole body's hundred million points.

    Args:
        hu: HU of the neck's tissues at the same points (:func:`~.tissues.soft_tissue_hu`).
        x, y, z: anatomical mm.
        col: the extended column (needs T10, L1).
        tissue, trunk: the patient's soft-tissue and trunk parameters.

    Returns:
        ``hu``.
    """
    z_t1 = col.frames["T1"].centre[2]
    sel = below_shoulders(col, z)
    if not sel.any():
        return hu
    xs, ys, zs = x[sel], y[sel], z[sel]
    y_sp = col.body_y(zs)
    hw, hd, cy = outline(col, tissue, trunk, zs, body_y=y_sp)
    r = np.sqrt((xs / hw) ** 2 + ((ys - cy) / hd) ** 2)
    out = np.full(xs.shape, -1000.0, np.float32)
    out[r <= 1.0] = tissue.fat_hu
    out[r <= 1.0 - tissue.fat_thickness / np.minimum(hw, hd)] = tissue.muscle_hu
    wall = tissue.fat_thickness + 14.0
    hw_in, hd_in = hw - wall, hd - wall
    cavity = (((xs / hw_in) ** 2 + ((ys - cy) / hd_in) ** 2) <= 1.0) & (ys < y_sp + 12.0)
    dy = ys - cy
    c = np.flatnonzero(cavity)
    zc, zd = zs[c], diaphragm_z(col, xs[c], dy[c])
    thorax, a = c[zc > zd], c[zc <= zd]  # point indices, the diaphragm between them
    organ = trunk.organ_hu
    out[thorax] = -40.0  # mediastinal fat and vessels, averaged
    _paint_thorax(out, thorax, xs, ys, zs, dy, hw_in, hd_in, cy, z_t1, col, organ, trunk.lung_hu)
    # Trachea down to the carina (about T5), where the neck's airway continues
    airway_y = y_sp - 20.0 - tissue.airway_radius
    trachea = ((xs / (1.2 * tissue.airway_radius)) ** 2 + ((ys - airway_y) / tissue.airway_radius) ** 2) <= 1.0
    out[trachea & (r <= 1.0) & (zs > col.frames["T5"].centre[2])] = -1000.0

    out[a] = organ["abdomen"]
    xa, za, dya, hwa, hda = xs[a], zs[a], dy[a], hw_in[a], hd_in[a]
    span = (float(za.min()), float(za.max())) if a.size else (0.0, 0.0)
    dome = col.frames["T10"].centre[2] + 20.0
    solid = np.zeros(xs.shape, bool)
    for name, centre, axes in (("liver", (-0.35 * hwa, 0.05 * hda, dome - 60.0), (0.58 * hwa, 0.85 * hda, 80.0)),
                               ("spleen", (0.6 * hwa, 0.35 * hda, dome - 45.0), (0.22 * hwa, 0.32 * hda, 50.0))):
        m = a[_ellipsoid(xa, dya, za, centre, axes, span)]
        out[m] = organ[name]
        solid[m] = True
    z_l1 = col.frames["L1"].centre[2]
    near = (r <= 1.0) & (ys < y_sp + 30.0)  # the kidneys' fat reaches the back wall
    near[a] = True
    near = np.flatnonzero(near)
    xn, yn, zn = xs[near], ys[near] - y_sp[near], zs[near]
    span_n = (float(zn.min()), float(zn.max())) if near.size else (0.0, 0.0)
    for side in (-1.0, 1.0):
        centre = (side * (0.3 * hw_in[near] + 10.0), 0.0, z_l1 - (15.0 if side < 0 else 0.0))
        fat = _ellipsoid(xn, yn, zn, centre, (40.0, 34.0, 70.0), span_n) & ~solid[near]
        out[near[fat]] = tissue.fat_hu
        kidney = near[_ellipsoid(xn, yn, zn, centre, (28.0, 24.0, 55.0), span_n)]
        out[kidney] = organ["kidney"]
        solid[kidney] = True
    for gx, gy, gz, gr in trunk.gas:
        gas = a[_ellipsoid(xa, dya, za, (gx * hwa, gy * hda, dome - gz), (gr, gr, gr), span)]
        out[gas[~solid[gas]]] = -950.0
    hu[sel] = out
    return hu


def below_shoulders(col: Column, z: Array) -> Array:
    """Where the trunk's tissues hold (below the shoulder line; the neck's above it)."""
    return z < col.frames["T1"].centre[2] - SHOULDER_BELOW_T1_MM


def trunk_hu(x: Array, y: Array, z: Array, col: Column, tissue: SoftTissue, trunk: Trunk) -> Array:
    """Soft tissue of a trunk field of view at anatomical points (mm, arrays of one shape): the
    neck's above the shoulder line, the trunk's below it.

    The neck's tissue is computed only above the line (:func:`paint_trunk` would overwrite the
    rest): the same values as computing it everywhere, without the work on most of a whole body.
    """
    above = ~below_shoulders(col, z)
    hu = np.empty(x.shape, np.float32)
    if above.any():
        hu[above] = soft_tissue_hu(x[above], y[above], z[above], col, tissue)
    return paint_trunk(hu, x, y, z, col, tissue, trunk)


def _paint_thorax(out: Array, t: Array, xs: Array, ys: Array, zs: Array, dy: Array, hw_in: Array, hd_in: Array,
                  cy: Array, z_t1: float, col: Column, organ: dict[str, float], lung_hu: float) -> None:
    """Lungs, heart and its blood pool at the thorax's points ``t`` (indices into the trunk's points)."""
    xt, yt, zt, dyt, hwt, hdt = xs[t], ys[t], zs[t], dy[t], hw_in[t], hd_in[t]
    # Lung domes rise to where the neck's outline takes over (the neck draws the apices above)
    z_apex = z_t1 - SHOULDER_BELOW_T1_MM + 5.0
    taper = np.sqrt(np.clip((z_apex - zt) / 100.0, 0.0, 1.0))
    for side in (-1.0, 1.0):
        ax, ay = 0.46 * hwt * taper + 1e-3, 0.8 * hdt * taper + 1e-3
        lung = (((xt - side * 0.48 * hwt) / ax) ** 2 + ((dyt - 0.05 * hdt) / ay) ** 2) <= 1.0
        out[t[lung & (np.abs(xt - 0.1 * hwt) > 22.0)]] = lung_hu
    if not t.size:
        return
    span = (float(zt.min()), float(zt.max()))
    heart_c = (0.15 * hwt, cy[t] - 0.2 * hdt, col.frames["T8"].centre[2] - 5.0)
    heart = _ellipsoid(xt, yt, zt, heart_c, (0.36 * hwt, 0.45 * hdt, 58.0), span)
    out[t[heart]] = organ["myocardium"]
    out[t[heart & _ellipsoid(xt, yt, zt, heart_c, (0.25 * hwt, 0.32 * hdt, 42.0), span)]] = organ["blood"]


__all__ = ["CONTRAST_PHASES", "SHOULDER_BELOW_T1_MM", "Trunk", "below_shoulders", "diaphragm_z", "outline",
           "paint_trunk", "sample_trunk", "trunk_hu"]
