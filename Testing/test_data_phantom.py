"""The phantom generator: anatomy in order under any pose, plausible HU, truthful heights,
fractures local to their level, determinism."""

import numpy as np
import pytest
from scipy import ndimage

from conftest import load_benchmark

from SpineFractureLib.data.case import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom, planned_fractures

SMALL = dict(size_xyz=(96, 96, 128), spacing=(1.6, 1.6, 1.6))


def centroid_superior(case, label):
    kji = np.argwhere(case.labels.array == label).mean(axis=0)
    return case.ct.index_to_lps(kji[::-1])[2]


@pytest.mark.parametrize("seed, direction", [
    (0, np.eye(3)),
    (1, np.diag([-1.0, -1.0, -1.0])),  # RAI grid: k runs from head to feet
    (2, np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])),  # permuted axes
])
def test_levels_present_and_ordered_head_to_feet(seed, direction):
    case = make_phantom(seed, PhantomConfig(**SMALL, direction=direction, noise_hu=0))
    present = [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]
    assert present == list(LEVELS)
    z = [centroid_superior(case, i + 1) for i in range(7)]
    assert all(a > b for a, b in zip(z, z[1:])), z
    assert set(np.unique(case.labels.array)) <= set(range(10))


def test_tissue_hu_in_range():
    case = make_phantom(3, PhantomConfig(**SMALL, noise_hu=0, streak_probability=0))
    ct, lab = case.ct.array, case.labels.array
    for level in range(1, 8):
        mask = lab == level
        interior = ndimage.binary_erosion(mask, iterations=2)
        assert 150 <= np.median(ct[interior]) <= 420, level  # cancellous
        assert 700 <= np.percentile(ct[mask], 99) <= 1500, level  # cortex (blurred at 1.6 mm)
    soft = ct[(ct > -200) & (ct < 200)]
    hist, edges = np.histogram(soft, bins=40, range=(-200, 200))
    assert 15 <= edges[np.argmax(hist)] <= 75  # soft tissue peak
    assert np.percentile(ct, 1) <= -990  # air outside the neck and in the airway
    assert case.ct.array.dtype == np.float32


def test_truth_heights_match_label_map():
    cfg = PhantomConfig(size_xyz=(110, 110, 150), spacing=(0.6, 0.6, 0.6), noise_hu=0, fracture_rate=0)
    case = make_phantom(4, cfg)
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
            ijk = case.ct.lps_to_index(pts)
            values = ndimage.map_coordinates(case.labels.array, ijk[:, ::-1].T, order=0)
            measured = np.count_nonzero(values == i) * 0.1
            assert abs(measured - t["heights_mm"][where]) <= 1.0, (lv, where, measured, t["heights_mm"])
            checked += 1
    assert checked >= 12


def test_compression_heights_and_grade():
    found = 0
    for seed in range(40):
        case = make_phantom(seed, PhantomConfig(**SMALL, fracture_rate=1.0, difficulty=0.0, noise_hu=0))
        for lv, t in case.truth["levels"].items():
            if t["kind"] and t["kind"].startswith("compression"):
                h = t["heights_mm"]
                loss = 1 - min(h.values()) / max(h.values()) if "wedge" in t["kind"] else None
                assert t["genant_grade"] >= 2  # difficulty 0: grade 3 mostly, never grade 1
                if loss is not None:
                    assert loss >= 0.25
                found += 1
        if found >= 2:
            break
    assert found >= 2


def test_fracture_changes_only_its_own_level():
    cfg = dict(**SMALL, noise_hu=20, difficulty=0.0, streak_probability=0.0)
    for seed in range(10, 30):
        broken = make_phantom(seed, PhantomConfig(**cfg, fracture_rate=1.0))
        if broken.fracture.array.any():
            break
    intact = make_phantom(seed, PhantomConfig(**cfg, fracture_rate=0.0))
    assert not intact.fracture.array.any() and not intact.truth["patient_fractured"]
    fractured = [i + 1 for i, lv in enumerate(LEVELS) if broken.truth["levels"][lv]["fractured"]]
    assert fractured and broken.truth["patient_fractured"]
    diff = np.abs(broken.ct.array - intact.ct.array) > 1.0
    assert diff.any()
    near = ndimage.binary_dilation(np.isin(intact.labels.array, fractured), iterations=4)
    assert not np.any(diff & ~near)
    lab_diff = broken.labels.array != intact.labels.array
    assert set(np.unique(intact.labels.array[lab_diff])) | set(np.unique(broken.labels.array[lab_diff])) <= {0, *fractured}
    for lv in LEVELS:
        if broken.truth["levels"][lv]["fractured"]:
            continue
        assert broken.truth["levels"][lv]["heights_mm"] == intact.truth["levels"][lv]["heights_mm"]


def test_same_seed_identical_different_seed_different():
    a = make_phantom(7, PhantomConfig(**SMALL))
    b = make_phantom(7, PhantomConfig(**SMALL))
    c = make_phantom(8, PhantomConfig(**SMALL))
    assert a.ct.array.tobytes() == b.ct.array.tobytes()
    assert a.labels.array.tobytes() == b.labels.array.tobytes()
    assert a.truth == b.truth
    assert a.ct.array.tobytes() != c.ct.array.tobytes()


@pytest.mark.parametrize("seed, cut", [(0, 1.0), (1, 1.0), (2, 0.0)])
def test_random_field_of_view_is_clinical_and_may_cut(seed, cut):
    case = make_phantom(seed, PhantomConfig(cut_probability=cut, fracture_rate=0.0))
    sx, sy, sz = case.ct.spacing
    assert sx == sy and 0.3 <= sx <= 0.9 and 0.5 <= sz <= 3.0
    assert max(case.ct.shape_xyz) <= 320
    levels = case.truth["levels"]
    absent = {lv for lv in LEVELS if not levels[lv]["present"]}
    assert absent == ({"C1", "C7"} if cut else set())
    for lv in absent:
        assert not np.any(case.labels.array == LEVELS.index(lv) + 1)
    # A cut level with bone in the scan says so; a level with none in it does not.
    assert {lv for lv in LEVELS if levels[lv]["partly_in_view"]} <= absent
    assert not any(levels[lv]["partly_in_view"] for lv in LEVELS if lv not in absent)
    if cut:
        assert any(levels[lv]["partly_in_view"] for lv in absent), "a cut neck shows part of C1 or C7"


@pytest.mark.parametrize("seed, config", [
    (11, {"size_xyz": (96, 96, 80), "fracture_rate": 1.0}),
    (12, {"size_xyz": (96, 96, 80), "fracture_rate": 1.0, "anatomy": "mesh"}),
    (13, {"size_xyz": (96, 96, 80), "fracture_rate": 0.0}),
])
def test_planned_fractures_are_the_ones_the_phantom_draws(seed, config):
    cfg = PhantomConfig(**config)
    case = make_phantom(seed, cfg)
    drawn = {lv: t["kind"] for lv, t in case.truth["levels"].items() if t["fractured"]}
    assert planned_fractures(seed, cfg) == drawn
    assert bool(drawn) == (config["fracture_rate"] > 0)
    assert np.any(case.fracture.array) == bool(drawn)


@pytest.mark.parametrize("kwargs", [
    {"fracture_rate": 1.5}, {"difficulty": -0.1}, {"size_xyz": (4, 4, 4)}, {"spacing": (1, 0, 1)}, {"noise_hu": -1},
    {"fov": "legs"}, {"contrast": "delayed"},
])
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        PhantomConfig(**kwargs)


def test_pick_fracture_seeds_picks_the_seeds_holding_the_kind_and_only_those():
    bench = load_benchmark("pick_fracture_seeds")
    config = {"fov": "head-upper-neck"}
    picked, tried = bench.pick(100, 2, ["dens"], config, limit=200)
    assert len(picked) == 2 and tried == picked[-1] - 100 + 1
    cfg = PhantomConfig(**config)
    for seed in range(100, 100 + tried):
        assert ("dens" in planned_fractures(seed, cfg).values()) == (seed in picked)
    assert bench.pick(100, 5, ["compression"], config, limit=3)[1] <= 3  # stops at the limit
