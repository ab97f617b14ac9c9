"""Fields of view beyond the neck (chest, abdomen, head, whole body) and contrast phases: truth
consistent with the label map, no cervical label where no cervical spine is in view, contrast
that brightens vessels only, determinism."""

import numpy as np
import pytest

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom.fov import FOV_KINDS

COARSE = dict(spacing=(3.0, 3.0, 3.0), noise_hu=0.0, streak_probability=0.0)


def _centroid_z(case, label):
    kji = np.argwhere(case.labels.array == label).mean(axis=0)
    return case.ct.index_to_lps(kji[::-1])[2]


@pytest.fixture(scope="module")
def by_kind():
    return {kind: make_phantom(3, PhantomConfig(fov=kind, **COARSE)) for kind in FOV_KINDS}


@pytest.mark.parametrize("kind", FOV_KINDS)
def test_truth_agrees_with_the_label_map_and_levels_run_head_to_feet(by_kind, kind):
    case = by_kind[kind]
    assert case.truth["field_of_view"] == kind and case.truth["contrast"] == "none"
    found = [int(v) for v in np.unique(case.labels.array) if v]
    for i, lv in enumerate(LEVELS):
        assert case.truth["levels"][lv]["present"] == (i + 1 in found), lv
    z = [_centroid_z(case, v) for v in found]
    assert all(a > b for a, b in zip(z, z[1:])), list(zip(found, np.round(z)))
    assert set(found) <= set(range(1, 23))


def test_each_kind_holds_the_levels_it_should(by_kind):
    cervical = lambda case: [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]  # noqa: E731
    labels = {k: set(np.unique(c.labels.array).tolist()) - {0} for k, c in by_kind.items()}
    for kind in ("head", "abdomen"):  # no cervical spine in view: no cervical label, nothing present
        assert cervical(by_kind[kind]) == [] and not labels[kind] & set(range(1, 8))
        assert not by_kind[kind].truth["patient_fractured"]
    assert labels["head"] == set()
    assert {20, 21, 22} <= labels["abdomen"]  # L1..L3
    assert set(cervical(by_kind["chest"])) <= {"C5", "C6", "C7"} and cervical(by_kind["chest"])
    assert set(range(8, 21)) <= labels["chest"]  # T1..T12 and L1
    assert cervical(by_kind["whole-body"]) == list(LEVELS) and labels["whole-body"] == set(range(1, 23))
    assert cervical(by_kind["neck"]) == list(LEVELS) and labels["neck"] <= set(range(1, 10))
    assert cervical(by_kind["head-neck"])[:5] == ["C1", "C2", "C3", "C4", "C5"]  # down to C5-T1
    upper = cervical(by_kind["head-upper-neck"])  # down to C2-C5
    assert upper[:2] == ["C1", "C2"] and not {"C6", "C7"} & set(upper) and labels["head-upper-neck"] <= set(range(1, 8))


def test_a_head_ct_reaching_the_upper_neck_ends_between_c2_and_c5():
    for seed in range(6):
        case = make_phantom(seed, PhantomConfig(fov="head-upper-neck", **COARSE))
        present = [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]
        assert present == list(LEVELS[:len(present)]) and 2 <= len(present) <= 5, (seed, present)
        assert case.truth["teeth"]  # the face is in view: dental arches drawn


def test_trunk_has_lungs_and_dense_ribs(by_kind):
    hu, lab = by_kind["chest"].ct.array, by_kind["chest"].labels.array
    assert (hu < -800).mean() > 0.1  # lungs and the air around the body
    assert ((hu > 400) & (lab == 0)).sum() > 2000  # ribs, sternum, clavicles: bone that is no vertebra


@pytest.mark.parametrize("kind", ["neck", "chest"])
def test_contrast_brightens_vessels_only(kind):
    plain = make_phantom(4, PhantomConfig(fov=kind, **COARSE))
    arterial = make_phantom(4, PhantomConfig(fov=kind, contrast="arterial", **COARSE))
    assert plain.labels.array.tobytes() == arterial.labels.array.tobytes()
    assert plain.fracture.array.tobytes() == arterial.fracture.array.tobytes()
    assert plain.truth["levels"] == arterial.truth["levels"]
    diff = arterial.ct.array - plain.ct.array
    assert diff.min() > -1e-3 and diff.max() > 150  # iodine adds, never removes
    assert (diff[plain.labels.array > 0] > 10).mean() < 0.01  # the vertebrae keep their HU (blur aside)
    changed = diff > 10
    assert 0 < changed.mean() < (0.05 if kind == "neck" else 0.2)


def test_same_seed_same_bytes_for_a_trunk_phantom():
    a = make_phantom(5, PhantomConfig(fov="abdomen", contrast="venous", **COARSE))
    b = make_phantom(5, PhantomConfig(fov="abdomen", contrast="venous", **COARSE))
    assert a.ct.array.tobytes() == b.ct.array.tobytes() and a.labels.array.tobytes() == b.labels.array.tobytes()
    assert a.truth == b.truth


def test_trunk_ellipsoid_equals_evaluating_every_point():
    from SpineFractureLib.data.phantom.trunk_tissue import _ellipsoid

    rng = np.random.default_rng(3)
    x, y, z = (rng.uniform(-200, 200, 20000).astype(np.float32) for _ in range(3))
    hw = rng.uniform(100, 150, x.shape)  # per-point axes, as the trunk's outline gives
    for centre, axes in [((0.15 * hw, -30.0, 12.5), (0.36 * hw, 80.0, 58.0)), ((10.0, 0.0, -40.0), (28.0, 24.0, 55.0)),
                         ((0.0, 0.0, 500.0), (20.0, 20.0, 20.0))]:
        brute = (((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2
                 + ((z - centre[2]) / axes[2]) ** 2) <= 1.0
        assert np.array_equal(_ellipsoid(x, y, z, centre, axes), brute)
        assert np.array_equal(_ellipsoid(x, y, z, centre, axes, (float(z.min()), float(z.max()))), brute)
    assert _ellipsoid(x, y, z, (10.0, 0.0, -40.0), (28.0, 24.0, 55.0)).any()


def test_trunk_tissue_paints_every_organ_and_does_not_depend_on_point_order():
    """paint_trunk evaluates each organ on its cavity's points only: every organ is there, and
    shuffling the points shuffles the answer (an index mix-up between a cavity and the whole would not)."""
    from SpineFractureLib.data.phantom.layout import lay_out_column
    from SpineFractureLib.data.phantom.tissues import sample_soft_tissue, soft_tissue_hu
    from SpineFractureLib.data.phantom.trunk_column import extend_column
    from SpineFractureLib.data.phantom.trunk_tissue import paint_trunk, sample_trunk

    rng = np.random.default_rng(11)
    column = lay_out_column(rng, 1.0)
    tissue = sample_soft_tissue(rng, 1.0)
    trunk = sample_trunk(rng, tissue, "arterial")
    column = extend_column(rng, column, 1.0)
    top, bottom = column.frames["C1"].centre[2] + 30, column.frames["L3"].centre[2] - 40
    z, y, x = np.meshgrid(np.arange(bottom, top, 4.0), np.arange(-260.0, 160.0, 4.0), np.arange(-220.0, 220.0, 4.0),
                          indexing="ij")
    x, y, z = (a.ravel().astype(np.float32) for a in (x, y, z))
    hu = paint_trunk(soft_tissue_hu(x, y, z, column, tissue), x, y, z, column, tissue, trunk)
    values = set(np.unique(hu).tolist())
    organs = {trunk.lung_hu, -950.0, -40.0, *trunk.organ_hu.values()}
    assert {np.float32(v).item() for v in organs} <= values
    order = np.random.default_rng(0).permutation(x.size)
    shuffled = paint_trunk(soft_tissue_hu(x[order], y[order], z[order], column, tissue),
                           x[order], y[order], z[order], column, tissue, trunk)
    assert np.array_equal(shuffled, hu[order])
    # the neck's tissue on 3-D arrays (a neck phantom's slabs) equals the same on their flat points
    box = tuple(a.reshape(-1, 105, 110)[:20] for a in (x, y, z))
    assert np.array_equal(soft_tissue_hu(*box, column, tissue).ravel(),
                          soft_tissue_hu(*(a.ravel() for a in box), column, tissue))


def test_power_on_the_ramp_only_equals_the_power_everywhere():
    from SpineFractureLib.data.phantom.tissues import _pow_inside

    a = np.linspace(-0.2, 1.2, 1001, dtype=np.float32).clip(0.0, 1.0).reshape(7, 11, 13)[:, :, ::-1]
    assert np.array_equal(_pow_inside(a, 1.5), a ** 1.5)
