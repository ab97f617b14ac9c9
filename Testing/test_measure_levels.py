"""Measurements on phantom truth: body heights within 1 mm, keypoints, Genant grades, cancellous HU."""

import numpy as np
import pytest

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.measure import measure_levels
from SpineFractureLib.measure.body import SAMPLE_MM

SMALL = dict(size_xyz=(128, 128, 150), spacing=(0.8, 0.8, 1.0), fracture_rate=1.0, difficulty=0.0,
             cut_probability=0.0)
#: A grid whose i axis runs posterior and j axis right (a permuted, non-identity direction).
TURNED = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module", params=[(4, None), (7, None), (11, TURNED)], ids=["seed4", "seed7", "seed11-turned"])
def measured(request):
    seed, direction = request.param
    case = make_phantom(seed, PhantomConfig(**SMALL, direction=direction))
    return case, measure_levels(case.ct, case.labels.array)


def test_heights_keypoints_and_grades_match_the_phantom_truth(measured):
    case, levels = measured
    checked = 0
    for name in ("C3", "C4", "C5", "C6", "C7"):
        truth, m = case.truth["levels"][name], levels[name]
        if truth["kind"] is not None and not truth["kind"].startswith("compression"):
            continue  # a crack or a displaced corner changes the outline, not the truth's endplates
        for line, height in truth["heights_mm"].items():
            assert m.heights_mm[line] == pytest.approx(height, abs=1.0), (name, line)
        for key, point in truth["keypoints_lps_mm"].items():
            assert np.linalg.norm(np.subtract(m.keypoints_lps_mm[key], point)) < 2.0, (name, key)
        assert m.genant_grade == truth["genant_grade"], name
        checked += 1
    assert checked >= 4
    assert any(case.truth["levels"][n]["genant_grade"] >= 2 for n in ("C3", "C4", "C5", "C6", "C7"))


def test_cancellous_hu_and_volume(measured):
    case, levels = measured
    voxel_ml = float(np.prod(case.ct.spacing)) / 1000
    for name, m in levels.items():
        truth = case.truth["levels"][name]
        assert m.volume_ml == pytest.approx((case.labels.array == int(name[1])).sum() * voxel_ml, rel=1e-3)
        if name != "C1" and truth["kind"] is None:
            assert m.mean_hu == pytest.approx(truth["cancellous_hu"], abs=20.0), name


def test_c1_has_no_body_and_c2_no_middle_height_or_grade(measured):
    _, levels = measured
    c1, c2 = levels["C1"], levels["C2"]
    assert c1.heights_mm is None and c1.genant_grade is None and c1.mean_hu is None
    assert any("no vertebral body" in n for n in c1.notes)
    assert c2.heights_mm["middle"] is None and c2.heights_mm["anterior"] > 5 and c2.genant_grade is None


def test_only_present_levels_are_measured_and_the_grid_is_checked():
    case = make_phantom(4, PhantomConfig(**SMALL))
    labels = case.labels.array.copy()
    labels[labels == 7] = 0
    levels = measure_levels(case.ct, labels)
    assert "C7" not in levels and "C6" in levels
    assert levels["C6"].genant_grade is not None  # graded against its one neighbour, C5
    with pytest.raises(ValueError, match="grid"):
        measure_levels(case.ct, labels[:-1])


def test_a_partial_mask_gets_no_heights_rather_than_false_ones():
    case = make_phantom(4, PhantomConfig(**SMALL))
    labels = case.labels.array.copy()
    c4 = np.argwhere(labels == 4)
    right = c4[c4[:, 2] < np.median(c4[:, 2])]  # keep one side of C4 only (a segmentation gap)
    labels[tuple(right.T)] = 0
    m = measure_levels(case.ct, labels)["C4"]
    assert m.heights_mm is None and m.genant_grade is None and any("part of the vertebra" in n for n in m.notes)
    assert m.volume_ml > 0 and m.mean_hu is not None


def test_measurements_do_not_depend_on_how_much_empty_scan_surrounds_the_spine(measured):
    # measure_levels cuts the scan to the levels' box; padding the scan must change nothing
    case, first = measured
    pad = ((7, 5), (11, 3), (4, 9))  # (z, y, x) voxels before and after
    ct = case.ct
    origin = ct.index_to_lps(np.array([-pad[2][0], -pad[1][0], -pad[0][0]], float))
    big = type(ct)(np.pad(ct.array, pad, constant_values=-1000.0), ct.spacing, tuple(origin), ct.direction)
    again = measure_levels(big, np.pad(case.labels.array, pad))
    assert set(again) == set(first)
    for name, m in first.items():
        assert again[name].volume_ml == m.volume_ml and again[name].genant_grade == m.genant_grade
        # the same up to float rounding, which can move an edge by one sample of the plane
        for key, h in (m.heights_mm or {}).items():
            assert (h is None) == (again[name].heights_mm[key] is None)
            assert h is None or abs(again[name].heights_mm[key] - h) <= SAMPLE_MM + 1e-9
        assert (m.mean_hu is None) == (again[name].mean_hu is None)
        assert m.mean_hu is None or abs(again[name].mean_hu - m.mean_hu) < 1.0
        np.testing.assert_allclose(again[name].centroid_lps_mm, m.centroid_lps_mm, atol=1e-6)


def test_a_body_cut_by_the_scan_gets_no_heights_but_a_dens_cut_by_it_keeps_them():
    """The visible part of a cut body is lower than the body: it would grade an intact vertebra as
    compressed (the real head-and-neck CT's cut C6, Genant 1-2). A cut dens leaves C2's body whole."""
    case = make_phantom(4, PhantomConfig(**SMALL))
    lab = case.labels.array
    nz, ny, nx = lab.shape
    c7 = np.flatnonzero((lab == 7).any(axis=(1, 2)))
    c2 = np.flatnonzero((lab == 2).any(axis=(1, 2)))
    assert c7.max() < c2.min()  # slices grow towards the head
    lo, hi = (c7.min() + c7.max()) // 2, c2.max() - 4  # through C7's body; through the dens
    sub = case.ct.sub_volume((lo, 0, 0), (hi, ny, nx))
    levels = measure_levels(sub, lab[lo:hi])
    c7m = levels["C7"]
    assert c7m.heights_mm is None and c7m.genant_grade is None and c7m.volume_ml > 0
    assert any("first or last slice" in n for n in c7m.notes)
    assert levels["C2"].heights_mm["anterior"] > 5 and levels["C6"].genant_grade is not None


def test_a_coarse_scan_gets_no_heights():
    """Over 2 mm voxels a height's error alone nears a Genant grade: volume and density only."""
    case = make_phantom(4, PhantomConfig(**(SMALL | dict(size_xyz=(48, 48, 60), spacing=(2.2, 2.2, 2.5)))))
    levels = measure_levels(case.ct, case.labels.array)
    graded = [levels[n] for n in ("C3", "C4", "C5") if n in levels]
    assert graded and all(m.heights_mm is None and m.genant_grade is None and m.volume_ml > 0 for m in graded)
    assert all(any("too coarse" in n for n in m.notes) for m in graded)
