"""Real-shape vertebra templates: provenance of the packaged meshes, frames, sizes and scaling."""

import hashlib
import re

import numpy as np
import pytest

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom.anatomy import REFERENCE
from SpineFractureLib.data.phantom.mesh_anatomy import (MESH_DIR, body_width_ratio, mesh_bounds,
                                                       mesh_file, mesh_shape, mesh_vertebra, scale_for, template)

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
    assert 12.0 <= depth <= 20.0 and 9.0 <= height <= 18.0 and 14.0 <= width <= 24.0
    assert 7.0 <= t.volume_ml() <= 25.0
    shape = mesh_shape(s)
    assert _at(s, 0, 0, 0) < -2.0  # deep in the body
    assert _at(s, 0, shape.depth / 2 + 4.0, 0) > 0  # the spinal canal
    assert _at(s, 0, -shape.depth / 2 - 2.0, 0) > 0  # in front of the body


@pytest.mark.parametrize("level", LEVELS[1:])
def test_bodies_have_the_measured_width_to_depth_ratio_and_are_narrower_than_the_arch(level):
    t, ref = template(level), SHAPES[level]
    assert t.body[0] / t.body[1] == pytest.approx(ref.width / ref.depth, abs=0.08)
    assert body_width_ratio(level, t.body) > 0.95  # narrowed once, not again
    lo, hi = t.bounds
    assert hi[0] - lo[0] > 2.5 * t.body[0]  # pedicles and transverse processes kept their span


@pytest.mark.parametrize("level", ["C2", "C4", "C7"])
def test_bodies_are_cylinders_with_slightly_concave_endplates(level):
    from SpineFractureLib.data.phantom.mesh_anatomy import ENDPLATE_CONCAVITY_MM, mesh_vertebra_shape

    s = mesh_shape(SHAPES[level])
    w = np.arange(-s.height, s.height, 0.05, dtype=np.float32)

    def extent(u, v):
        inside = w[mesh_vertebra_shape(np.full_like(w, u), np.full_like(w, v), w, s) <= 0]
        inside = inside[inside < s.height / 2 + 1.0]  # below C2's dens
        return inside.min(), inside.max()

    lo_c, hi_c = extent(0.0, 0.0)
    assert lo_c == pytest.approx(-s.height / 2 + ENDPLATE_CONCAVITY_MM, abs=0.1)  # inferior endplate dips in
    if level != "C2":  # C2's top is the base of the dens
        assert hi_c == pytest.approx(s.height / 2 - ENDPLATE_CONCAVITY_MM, abs=0.1)
    for u, v in ((0.0, -0.9 * s.depth / 2), (0.9 * s.width / 2, 0.0)):  # near the rim: flat, at ±H/2
        lo, hi = extent(u, v)
        assert lo == pytest.approx(-s.height / 2, abs=0.2) and hi >= s.height / 2 - 0.2


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


# --- phantoms drawn with the templates (PhantomConfig(anatomy="mesh")) ---

SMALL = dict(size_xyz=(96, 96, 128), spacing=(1.6, 1.6, 1.6), noise_hu=0, streak_probability=0.0)


def test_default_phantoms_keep_their_cache_tag_and_mesh_phantoms_get_their_own():
    from SpineFractureLib.data.phantom import PhantomConfig
    from SpineFractureLib.data.phantom_loaders import config_tag

    assert config_tag(PhantomConfig()) == "e623abc9"  # generator 1.3: the tag of every default case since session 47 (anatomy left out)
    assert config_tag(PhantomConfig(anatomy="mesh")) != config_tag(PhantomConfig())
    with pytest.raises(ValueError, match="anatomy"):
        PhantomConfig(anatomy="boxes")


def test_mesh_phantom_levels_ordered_sized_and_drawn_from_the_same_draws():
    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    mesh = make_phantom(0, PhantomConfig(**SMALL, anatomy="mesh", fracture_rate=0.0))
    boxes = make_phantom(0, PhantomConfig(**SMALL, fracture_rate=0.0))
    lab = mesh.labels.array
    ml = np.prod(mesh.ct.spacing) / 1000.0
    z = []
    for i, lv in enumerate(LEVELS, start=1):
        assert mesh.truth["levels"][lv]["present"]
        assert 5.0 <= (lab == i).sum() * ml <= 40.0, lv
        z.append(mesh.ct.index_to_lps(np.argwhere(lab == i).mean(axis=0)[::-1])[2])
    assert all(a > b for a, b in zip(z, z[1:])), z
    cervical = (lambda a: (a >= 1) & (a <= 7))  # noqa: E731
    assert (cervical(lab) != cervical(boxes.labels.array)).mean() > 0.002  # other shapes ...
    # ... from the same random draws: the same scanner grid, difficulty and noise (the column
    # moves a little: the stack uses the templates' body heights)
    assert mesh.ct.shape_xyz == boxes.ct.shape_xyz and np.allclose(mesh.ct.origin, boxes.ct.origin, atol=1.0)
    assert all(mesh.truth[k] == boxes.truth[k] for k in ("difficulty", "noise_hu", "field_of_view"))


def test_mesh_phantom_heights_match_its_label_map():
    from scipy import ndimage

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    case = make_phantom(4, PhantomConfig(size_xyz=(110, 110, 150), spacing=(0.6, 0.6, 0.6), noise_hu=0,
                                         fracture_rate=0, anatomy="mesh"))
    checked = 0
    for i, lv in enumerate(LEVELS[1:], start=2):
        t = case.truth["levels"][lv]
        if not t["present"]:
            continue
        for where in ("anterior", "middle", "posterior"):
            sup = np.array(t["keypoints_lps_mm"][f"{where}_superior"])
            inf = np.array(t["keypoints_lps_mm"][f"{where}_inferior"])
            axis = (sup - inf) / np.linalg.norm(sup - inf)
            pts = inf - 4 * axis + np.outer(np.arange(0, np.linalg.norm(sup - inf) + 8, 0.1), axis)
            values = ndimage.map_coordinates(case.labels.array, case.ct.lps_to_index(pts)[:, ::-1].T, order=0)
            # two 0.6 mm voxels: the rounded rims meet the sampling line obliquely
            assert abs(np.count_nonzero(values == i) * 0.1 - t["heights_mm"][where]) <= 1.2, (lv, where)
            checked += 1
    assert checked >= 12


def test_mesh_phantom_fractures_stay_in_their_level_and_compressions_are_graded():
    from scipy import ndimage

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    cfg = dict(**SMALL, difficulty=0.0, anatomy="mesh")
    graded = 0
    for seed in range(10, 40):
        broken = make_phantom(seed, PhantomConfig(**cfg, fracture_rate=1.0))
        kinds = [t["kind"] or "" for t in broken.truth["levels"].values()]
        if broken.fracture.array.any() and any(k.startswith("compression") for k in kinds):
            break
    intact = make_phantom(seed, PhantomConfig(**cfg, fracture_rate=0.0))
    fractured = [i + 1 for i, lv in enumerate(LEVELS) if broken.truth["levels"][lv]["fractured"]]
    diff = np.abs(broken.ct.array - intact.ct.array) > 1.0
    near = ndimage.binary_dilation(np.isin(intact.labels.array, fractured), iterations=4)
    assert diff.any() and not np.any(diff & ~near)
    for lv, t in broken.truth["levels"].items():
        if (t["kind"] or "").startswith("compression"):
            assert t["genant_grade"] >= 2 and min(t["heights_mm"].values()) < min(
                intact.truth["levels"][lv]["heights_mm"].values())
            graded += 1
    assert graded >= 1


def test_mesh_discs_fill_the_endplate_concavities_and_procedural_discs_are_unchanged():
    from SpineFractureLib.data.phantom.builders import build_objects
    from SpineFractureLib.data.phantom.layout import lay_out_column
    from SpineFractureLib.data.phantom.mesh_anatomy import ENDPLATE_CONCAVITY_MM

    for kind, reshape in (("mesh", lambda s: mesh_shape(s) if s.name in LEVELS else s), ("procedural", None)):
        col = lay_out_column(np.random.default_rng(0), 1.0, reshape)
        disc = next(o for o in build_objects(col, {}, 90.0, kind) if o.name == "disc above C5")
        s, gap = col.shapes["C5"], col.disc_gaps["C5"]
        at = (lambda w: float(disc.evaluate(*(np.array([x], np.float32) for x in (0.0, 0.0, w))).bone[0]))  # noqa: E731
        in_dip = s.height / 2 - ENDPLATE_CONCAVITY_MM / 2  # inside the lower body's concavity
        under_upper = s.height / 2 + gap + 0.3 + ENDPLATE_CONCAVITY_MM / 2  # inside the upper one's
        if kind == "mesh":
            assert at(in_dip) < 0 and at(under_upper) < 0
        else:
            assert at(in_dip) > 0 and at(under_upper) > 0 and at(s.height / 2 + gap / 2) < 0


def test_mesh_neighbours_keep_a_joint_space_and_procedural_phantoms_are_unchanged():
    from scipy import ndimage

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    cfg = dict(size_xyz=(110, 110, 150), spacing=(0.6, 0.6, 0.6), noise_hu=0, streak_probability=0.0,
               fracture_rate=0)
    lab = make_phantom(4, PhantomConfig(**cfg, anatomy="mesh")).labels.array
    near = 0
    for i in range(1, 7):
        upper, lower = lab == i, lab == i + 1
        assert not (lower & ndimage.binary_dilation(upper, np.ones((3, 3, 3), bool))).any(), (LEVELS[i - 1], LEVELS[i])
        # ... yet they do come within a few voxels: the joints are there, not pushed apart
        near += int((lower & ndimage.binary_dilation(upper, np.ones((3, 3, 3), bool), iterations=4)).sum())
    assert near > 100
    # procedural vertebrae never carve joints: their phantoms (and every cached case) keep their bytes
    from SpineFractureLib.data.phantom.builders import build_objects
    from SpineFractureLib.data.phantom.layout import lay_out_column

    col = lay_out_column(np.random.default_rng(0), 1.0)
    assert all(o.joint_gap_mm == 0.0 for o in build_objects(col, {}, 90.0, "procedural"))


def test_a_bone_drawn_after_another_leaves_the_joint_space_with_a_subchondral_plate():
    from SpineFractureLib.data.phantom.fractures import Rendered
    from SpineFractureLib.data.phantom.render import BoneHU, BoneObject, Canvas
    from SpineFractureLib.volume import CTVolume

    grid = CTVolume(np.zeros((70, 40, 40), np.float32), spacing=(0.5, 0.5, 0.5), origin=(0.0, 0.0, 0.0))

    def ball(centre_z, label, gap):
        def evaluate(u, v, w):
            d = np.sqrt((u - 10) ** 2 + (v - 10) ** 2 + (w - centre_z) ** 2) - 6.0
            none = np.zeros(d.shape, bool)
            return Rendered(d, d, d <= 0, none, none)
        return BoneObject(f"ball {label}", label, np.eye(3), np.zeros(3), np.array([0.0, 0.0, 0.0]),
                          np.array([20.0, 20.0, 30.0]), evaluate, joint_gap_mm=gap)

    hu = BoneHU(cortical=1000.0, cancellous=250.0, cortex_mm=0.5)
    canvas = Canvas(grid, np.eye(3), np.zeros(3))
    canvas.hu[:] = 40.0
    canvas.draw_all([ball(9.0, 1, 0.0), ball(19.0, 2, 1.5)], [hu, hu])  # 10 mm apart, radius 6: overlap
    first, second = np.argwhere(canvas.labels == 1), np.argwhere(canvas.labels == 2)
    gaps = np.sqrt(((first[:, None, :] - second[None, :, :]) ** 2).sum(-1)).min() * 0.5
    assert 1.5 <= gaps <= 2.2  # the joint space, in mm, between the two bones' nearest voxels
    assert len(second) > 0.6 * len(first)  # the later bone loses only the cap near the earlier one
    # the later bone's joint face is a subchondral plate (cortical HU), its core stays cancellous
    face = second[second[:, 0] == second[:, 0].min()]
    assert np.all(canvas.hu[tuple(face.T)] == 1000.0)
    assert canvas.hu[38, 20, 20] == 250.0
