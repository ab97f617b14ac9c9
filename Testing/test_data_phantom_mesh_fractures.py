"""Posterior-element fractures moved onto the real-shape vertebrae: each crack cuts bone of the
part it names, and fractures of the body are left as drawn."""

import numpy as np
import pytest

from SpineFractureLib.data.phantom import fractures
from SpineFractureLib.data.phantom.anatomy import REFERENCE
from SpineFractureLib.data.phantom.mesh_anatomy import mesh_shape, mesh_vertebra_shape
from SpineFractureLib.data.phantom.mesh_fractures import (ARCH_HALF_WIDTH_MM, C1_BACK_V_MM, C1_FRONT_V_MM,
                                                          PEDICLE_BEHIND_MM, fit_fracture)

SHAPES = {s.name: mesh_shape(s) for s in REFERENCE if s.name.startswith("C")}


def _draws(level, wanted, n=6, difficulty=0.5):
    out, seed = [], 0
    while len(out) < n:
        f = fractures.sample_fracture(np.random.default_rng(seed), SHAPES[level], difficulty)
        if wanted(f):
            out.append(f)
        seed += 1
    return out


def _bone_cut(s, f) -> float:
    """Bone (mm³) that the crack's gap removes, on a 0.5 mm grid round the fracture point."""
    axes = [np.arange(c - 10.0, c + 10.0, 0.5, dtype=np.float32) for c in f.point]
    u, v, w = np.meshgrid(*axes, indexing="ij")
    r = fractures.render_vertebra(u, v, w, s, f, mesh_vertebra_shape)
    intact = mesh_vertebra_shape(u, v, w, s)
    return float(((intact <= 0) & (r.bone > 0)).sum()) * 0.125


def test_c1_arch_cracks_cut_the_mesh_arch_they_name():
    s = SHAPES["C1"]
    for f in _draws("C1", lambda f: f.kind == "arch"):
        g = fit_fracture(f, s)
        # on the same arch (anterior or posterior), not on a lateral mass
        assert (g.point[1] <= C1_FRONT_V_MM) if f.point[1] < 12.0 else (g.point[1] >= C1_BACK_V_MM)
        assert abs(g.point[0]) <= ARCH_HALF_WIDTH_MM and np.linalg.norm(g.normal) == pytest.approx(1.0)
        assert _bone_cut(s, g) >= 3.0  # every crack opens a gap in bone


@pytest.mark.parametrize("level", ["C3", "C5", "C7"])
def test_pedicle_cracks_sit_behind_the_body_on_their_side_and_cut_bone(level):
    s = SHAPES[level]
    for f in _draws(level, lambda f: f.kind == "break" and f.radius == 6.0, n=3):
        g = fit_fracture(f, s)
        assert g.point[1] > s.depth / 2 + PEDICLE_BEHIND_MM and np.sign(g.point[0]) == np.sign(f.point[0])
        assert np.array_equal(g.normal, f.normal) and g.gap == f.gap
        assert _bone_cut(s, g) >= 3.0


def test_body_fractures_are_left_as_drawn():
    for level, wanted in (("C5", lambda f: f.kind == "compression"), ("C6", lambda f: f.kind == "fragment"),
                          ("C2", lambda f: f.kind == "dens"),
                          ("C4", lambda f: f.kind == "break" and f.radius != 6.0)):
        f = _draws(level, wanted, n=1)[0]
        assert fit_fracture(f, SHAPES[level]) is f


def test_mesh_phantom_arch_fracture_region_lies_on_c1_bone(monkeypatch):
    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom, mesh_fractures

    placed = []
    real_fit = mesh_fractures.fit_fracture
    monkeypatch.setattr(mesh_fractures, "fit_fracture", lambda f, s: placed.append(s.name) or real_fit(f, s))

    cfg = dict(size_xyz=(60, 60, 80), spacing=(1.6, 1.6, 1.6), noise_hu=0, streak_probability=0.0,
               anatomy="mesh", difficulty=0.0, pose=False, psf_fwhm_mm=0.0)
    case = make_phantom(36, PhantomConfig(**cfg, fracture_rate=1.0))  # seed 36: C1 in view and broken
    assert case.truth["levels"]["C1"]["present"] and case.truth["levels"]["C1"]["kind"] == "arch"
    assert placed == [lv for lv, t in case.truth["levels"].items() if t["fractured"]]  # every fracture placed
    intact = make_phantom(36, PhantomConfig(**cfg, fracture_rate=0.0))
    c1 = intact.labels.array == 1
    region = case.fracture.array > 0
    assert (region & c1).sum() >= 0.5 * (region & (intact.labels.array <= 1)).sum() > 0
    removed = c1 & (intact.ct.array > 200) & (case.ct.array < 150)
    assert removed.sum() >= 3  # the crack shows as a lucent gap in C1's bone
