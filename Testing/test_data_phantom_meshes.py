"""Real-shape vertebra templates: provenance of the packaged meshes, frames, sizes and scaling."""

import hashlib
import re

import numpy as np
import pytest

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom.anatomy import REFERENCE
from SpineFractureLib.data.phantom.mesh_anatomy import (MESH_DIR, mesh_bounds, mesh_file, mesh_shape, mesh_vertebra,
                                                       scale_for, template)

SHAPES = {s.name: s for s in REFERENCE}


def _at(s, u, v, w):
    return float(mesh_vertebra(np.array([u], np.float32), np.array([v], np.float32), np.array([w], np.float32), s)[0])


def test_packaged_meshes_are_the_ones_the_readme_names():
    table = dict(re.findall(r"\| (cerv\d\.vtp) \|[^|]*\| ([0-9a-f]{64}) \|", (MESH_DIR / "README.md").read_text()))
    assert sorted(table) == [f"cerv{i}.vtp" for i in range(1, 8)]
    for level in LEVELS:
        path = mesh_file(level)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == table[path.name]
    assert "MIT" in (MESH_DIR / "LICENSE-MIT.txt").read_text()


@pytest.mark.parametrize("level", LEVELS[1:])
def test_body_centre_is_bone_and_the_canal_behind_it_is_not(level):
    t, s = template(level), SHAPES[level]
    width, depth, height = t.body
    assert 12.0 <= depth <= 20.0 and 9.0 <= height <= 18.0 and 15.0 <= width <= 32.0
    assert 7.0 <= t.volume_ml() <= 25.0
    shape = mesh_shape(s)
    assert _at(s, 0, 0, 0) < -2.0  # deep in the body
    assert _at(s, 0, shape.depth / 2 + 4.0, 0) > 0  # the spinal canal
    assert _at(s, 0, -shape.depth / 2 - 2.0, 0) > 0  # in front of the body


def test_atlas_is_a_ring_around_the_dens_axis():
    s = SHAPES["C1"]
    assert _at(s, 0, 0, 0) > 1.0  # where the dens stands
    assert min(_at(s, 0, v, 0) for v in np.arange(-12.0, -5.0, 0.5)) < 0  # anterior arch in front
    lo, hi = mesh_bounds(s)
    u, v = np.meshgrid(np.arange(lo[0], hi[0], 0.5), np.arange(lo[1], hi[1], 0.5), indexing="ij")
    ring = np.minimum.reduce([mesh_vertebra(u, v, np.full_like(u, w), s) for w in (-3.0, 0.0, 3.0)]) <= 0
    from scipy import ndimage

    holes, _ = ndimage.label(~ring)
    inner = holes[np.unravel_index(np.argmin(u ** 2 + v ** 2), u.shape)]
    border = set(holes[0]) | set(holes[-1]) | set(holes[:, 0]) | set(holes[:, -1])
    assert inner not in border  # the opening around the dens axis is closed by bone all round


def test_scaling_follows_the_patient_size_and_keeps_the_body_consistent():
    s = SHAPES["C4"]
    big = s.scaled(1.1)
    assert scale_for(big) == pytest.approx(1.1 * scale_for(s), rel=1e-6)
    shape = mesh_shape(big)
    v = np.arange(-20.0, 5.0, 0.1, dtype=np.float32)
    inside = mesh_vertebra(np.zeros_like(v), v, np.zeros_like(v), big) <= 0
    front = v[inside].min()
    assert front == pytest.approx(-shape.depth / 2, abs=1.2)  # the body's anterior wall where mesh_shape says
    lo, hi = mesh_bounds(big)
    assert np.all(lo < [-shape.width / 2, front, -shape.height / 2]) and np.all(hi > 0)


def test_only_cervical_levels_have_meshes():
    with pytest.raises(ValueError, match="T1"):
        mesh_file("T1")
