"""Signed-distance primitives (mm; negative inside) evaluated on numpy coordinate arrays.

The phantom's bones are unions of these shapes in each bone's local frame (u to the patient's
left, v posterior, w superior). Distances are exact or close to exact near the surface, which
is what the cortical shell thickness and the fracture gaps need.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def ellipse_cylinder(u: Array, v: Array, w: Array, cu: float, cv: float, a: float, b: float,
                     w_lo: float | Array, w_hi: float | Array) -> Array:
    """Elliptic cylinder along w: centre (cu, cv), semi-axes a (u) and b (v), w in [w_lo, w_hi]."""
    radial = (np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2) - 1.0) * min(a, b)
    mid = (np.asarray(w_hi) + np.asarray(w_lo)) / 2.0
    half = (np.asarray(w_hi) - np.asarray(w_lo)) / 2.0
    return _intersect_exact(radial, np.abs(w - mid) - half)


def ellipsoid(u: Array, v: Array, w: Array, centre: tuple[float, float, float],
              axes: tuple[float, float, float]) -> Array:
    """Ellipsoid with the given centre and semi-axes (u, v, w); distance scaled by the smallest axis."""
    (cu, cv, cw), (a, b, c) = centre, axes
    r = np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2 + ((w - cw) / c) ** 2)
    return (r - 1.0) * min(a, b, c)


def capsule(u: Array, v: Array, w: Array, p0: tuple[float, float, float],
            p1: tuple[float, float, float], radius: float, w_scale: float = 1.0) -> Array:
    """Rounded rod from p0 to p1 of the given radius.

    ``w_scale`` > 1 squashes the rod's cross-section along w (a flat plate-like process):
    w distances are multiplied by it before measuring.
    """
    p0a, p1a = np.asarray(p0, float), np.asarray(p1, float)
    d = p1a - p0a
    d[2] *= w_scale
    du, dv, dw = u - p0a[0], v - p0a[1], (w - p0a[2]) * w_scale
    t = np.clip((du * d[0] + dv * d[1] + dw * d[2]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.sqrt((du - t * d[0]) ** 2 + (dv - t * d[1]) ** 2 + (dw - t * d[2]) ** 2) - radius


def elliptic_ring(u: Array, v: Array, w: Array, cv: float, a: float, b: float,
                  tube: float, half_height: float) -> Array:
    """Ring in the u-v plane (centre-line an ellipse centred at (0, cv) with semi-axes a, b),
    with an elliptic cross-section: ``tube`` mm in-plane, ``half_height`` mm along w."""
    radial = (np.sqrt((u / a) ** 2 + ((v - cv) / b) ** 2) - 1.0) * (a + b) / 2.0
    return np.sqrt(radial ** 2 + (w * tube / half_height) ** 2) - tube


def torus_arc(u: Array, v: Array, w: Array, cu: float, cv: float, radius: float, tube: float,
              angle_from: float, angle_to: float, half_height: float | None = None,
              w_slope: float = 0.0) -> Array:
    """Part of a torus in the u-v plane between two angles (radians, atan2(v - cv, u - cu)).

    ``w_slope`` lowers the tube by that many mm per mm of arc length from ``angle_from``
    (a rib descending as it runs forward).
    """
    du, dv = u - cu, v - cv
    angle = np.mod(np.arctan2(dv, du) - angle_from, 2 * np.pi)
    span = np.mod(angle_to - angle_from, 2 * np.pi)
    radial = np.sqrt(du ** 2 + dv ** 2) - radius
    hh = tube if half_height is None else half_height
    wc = w + w_slope * np.minimum(angle, span) * radius
    d = np.sqrt(radial ** 2 + (wc * tube / hh) ** 2) - tube
    return np.where(angle <= span, d, np.inf).astype(d.dtype)


def union(*sdfs: Array) -> Array:
    """Union of shapes: the pointwise minimum."""
    out = sdfs[0]
    for s in sdfs[1:]:
        out = np.minimum(out, s)
    return out


def subtract(a: Array, b: Array) -> Array:
    """Shape a with shape b removed."""
    return np.maximum(a, -b)


def _intersect_exact(d1: Array, d2: Array) -> Array:
    """Exact SDF of the intersection of two orthogonal extrusions (box-like corners)."""
    outside = np.sqrt(np.maximum(d1, 0.0) ** 2 + np.maximum(d2, 0.0) ** 2)
    return outside + np.minimum(np.maximum(d1, d2), 0.0)
