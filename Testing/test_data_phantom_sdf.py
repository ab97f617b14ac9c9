"""Phantom shapes: the in-place capsule and the height-limited trunk ellipsoid give the plain
expressions' results bit for bit."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.data.phantom.sdf import capsule


def _plain_capsule(u, v, w, p0, p1, radius, w_scale=1.0):
    p0a, p1a = np.asarray(p0, float), np.asarray(p1, float)
    d = p1a - p0a
    d[2] *= w_scale
    du, dv, dw = u - p0a[0], v - p0a[1], (w - p0a[2]) * w_scale
    t = np.clip((du * d[0] + dv * d[1] + dw * d[2]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.sqrt((du - t * d[0]) ** 2 + (dv - t * d[1]) ** 2 + (dw - t * d[2]) ** 2) - radius


def test_capsule_is_the_plain_expression_bit_for_bit():
    rng = np.random.default_rng(0)
    u, v, w = (rng.uniform(-20, 20, (6, 7, 8)) for _ in range(3))
    for p0, p1, r, s in (((0, 0, 0), (5, -3, 8), 2.5, 1.0), ((1, 2, 3), (1, 2, 3), 4.0, 1.0),
                         ((-4, 1, 0), (6, 2, -1), 1.5, 2.5)):
        assert np.array_equal(capsule(u, v, w, p0, p1, r, s), _plain_capsule(u, v, w, p0, p1, r, s))


def test_capsule_broadcasts_coordinate_axes_and_measures_distance():
    z, y, x = np.meshgrid(np.arange(5.0), np.arange(6.0), np.arange(7.0), indexing="ij", sparse=True)
    d = capsule(x, y, z, (0, 0, 0), (6, 0, 0), 1.0)
    assert d.shape == (5, 6, 7)
    assert np.array_equal(d, _plain_capsule(x, y, z, (0, 0, 0), (6, 0, 0), 1.0))
    assert d[0, 0, 3] == -1.0 and d[0, 3, 3] == 2.0 and d[0, 0, 0] == -1.0


def test_trunk_ellipsoid_within_its_height_is_the_full_formula():
    from SpineFractureLib.data.phantom.trunk_tissue import _ellipsoid, _ellipsoid_everywhere

    rng = np.random.default_rng(1)
    x, y, z = (rng.uniform(-200, 200, 20000) for _ in range(3))
    per_point = rng.uniform(40, 80, 20000)
    for centre, axes in (((0.0, 10.0, 5.0), (60.0, 40.0, 50.0)), ((per_point, 0.0, -30.0), (per_point, 30.0, 70.0)),
                         ((0.0, 0.0, 1e4), (10.0, 10.0, 10.0))):
        expected = _ellipsoid_everywhere(x, y, z, centre, axes)
        assert np.array_equal(_ellipsoid(x, y, z, centre, axes), expected)
    assert _ellipsoid(x, y, z, (0.0, 0.0, 0.0), (150.0, 150.0, 150.0)).any()
