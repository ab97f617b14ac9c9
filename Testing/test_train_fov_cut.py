"""Field-of-view cuts: classifier cases (the scan ends inside an end vertebra, without hiding a
fracture) and the segmentation level stage's crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpineFractureLib.data.cls_cases import ClsSample
from SpineFractureLib.train.classification import ClsTrainConfig
from SpineFractureLib.train.cls_dataset import ClassificationDataset
from SpineFractureLib.train.fov_cut import (cut_field_of_view, cut_plane, draw_field_of_view_cut, end_levels,
                                            level_z_ranges)

# z towards the head: C3 on top (z 80..99), C4 (50..69), C5 at the bottom (20..39)
LEVEL_Z = {3: 80, 4: 50, 5: 20}


def _column(fracture_z: tuple[int, int] | None = (62, 66), with_truth: bool = True) -> ClsSample:
    """C3..C5 boxes of 300 HU in a 1 mm crop (z, y, x); C4 fractured, its true region at ``fracture_z``."""
    shape = (120, 80, 80)
    hu = np.full(shape, 40, np.int16)
    labels = np.zeros(shape, np.uint8)
    for v, z0 in LEVEL_Z.items():
        labels[z0:z0 + 20, 30:50, 30:50] = v
        hu[z0:z0 + 20, 30:50, 30:50] = 300
    truth = np.zeros(shape, np.uint8)
    fractured = np.array([-1, -1, 0, 0, 0, -1, -1], np.int8)
    if fracture_z is not None:
        truth[fracture_z[0]:fracture_z[1], 32:48, 30:50] = 1
        fractured[3] = 1
    return ClsSample("toy", hu, labels, None, np.zeros(shape, np.uint8), truth if with_truth else None,
                     fractured, {"levels": {}})


def test_the_plane_keeps_the_inner_share_of_the_level():
    assert cut_plane((20, 39), "bottom", 0.5) == 30  # keeps z 30..39, the upper half
    assert cut_plane((20, 39), "top", 0.25) == 25  # keeps z 20..24, the lower quarter
    assert cut_plane((20, 39), "bottom", 0.0) == 39  # at least one slice stays


def test_end_levels_go_by_name_not_by_slice():
    # the dens of C2 rises above the ring of C1: the top level is still C1
    ranges = {1: (138, 153), 2: (116, 154), 3: (98, 121)}
    assert end_levels(ranges, "top") == [1, 2, 3] and end_levels(ranges, "bottom") == [3, 2, 1]


def test_a_bottom_cut_through_the_lowest_level_removes_the_slices_below_it():
    s = _column()
    cut = cut_field_of_view(s, "bottom", cut_plane((20, 39), "bottom", 0.5))
    assert cut is not None and cut.hu.shape == (90, 80, 80)
    assert level_z_ranges(cut.predicted) == {5: (0, 9), 4: (20, 39), 3: (50, 69)}
    np.testing.assert_array_equal(cut.hu, s.hu[30:])
    np.testing.assert_array_equal(cut.fractured, s.fractured)  # nothing hidden, nothing relabelled


def test_a_level_the_cut_removes_becomes_absent():
    s = _column()
    cut = cut_field_of_view(s, "bottom", 55)  # through C4, keeping its fracture (z 62..65)
    assert cut is not None and sorted(level_z_ranges(cut.predicted)) == [3, 4]
    assert cut.fractured[4] == -1 and cut.fractured[3] == 1


@pytest.mark.parametrize("end, plane", [("top", 58),  # C4's fracture (z 62..65) beyond the plane
                                        ("top", 45),  # the fractured C4 removed altogether
                                        ("bottom", 65)])  # 2 of the fracture's 5 slices kept
def test_a_cut_that_would_hide_a_fracture_is_not_made(end, plane):
    s = _column(fracture_z=(62, 67))
    assert cut_field_of_view(s, end, plane) is None


def test_a_fractured_level_without_a_known_region_is_never_cut():
    s = _column(with_truth=False)
    assert cut_field_of_view(s, "bottom", 55) is None
    assert cut_field_of_view(s, "bottom", 30) is not None  # C5 (intact) may still be cut


def test_random_cuts_reach_both_ends_and_never_hide_a_fracture():
    s = _column()
    rng = np.random.default_rng(3)
    ends = set()
    for _ in range(60):
        cut = draw_field_of_view_cut(s, rng)
        if cut is None:
            continue
        ranges = level_z_ranges(cut.predicted)
        assert 4 in ranges and cut.fractured[3] == 1
        moved_start = cut.hu.__array_interface__["data"][0] != s.hu.__array_interface__["data"][0]
        ends.add("bottom" if moved_start else "top")
    assert {"top", "bottom"} <= ends


def test_the_dataset_shows_cut_scans_with_air_beyond_the_edge():
    plain = ClassificationDataset([_column()], augment=True, balanced=False, seed=2, region_targets=True)
    cutting = ClassificationDataset([_column()], augment=True, balanced=False, seed=2, region_targets=True,
                                    fov_cuts=1.0)
    changed = 0
    for epoch in range(6):
        a, c = plain[(epoch, 0)], cutting[(epoch, 0)]
        assert (c["targets"] >= 0).all() and int(c["targets"].sum()) == 1  # C4 stays in view, fractured
        if a["rois"].shape != c["rois"].shape or not np.array_equal(a["rois"][:, 5].numpy(), c["rois"][:, 5].numpy()):
            changed += 1
    assert changed >= 3


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match="fov_cuts"):
        ClassificationDataset([_column()], fov_cuts=1.5)
    with pytest.raises(ValueError, match="fov_cuts"):
        ClsTrainConfig(fov_cuts=-0.1).validate()


def _level_crop(levels: range = range(1, 6), top: int = 50, depth: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Levels as 8-slice boxes of 300 HU, 10 slices apart, in a 2 mm level-stage crop (z, y, x);
    level v starts at slice ``top - 10 v`` (the first one on top)."""
    hu = np.full((depth, 16, 16), 40.0, np.float32)
    labels = np.zeros(hu.shape, np.uint8)
    for v in levels:
        z0 = top - 10 * v
        labels[z0:z0 + 8, 4:12, 4:12] = v
        hu[z0:z0 + 8, 4:12, 4:12] = 300.0
    return hu, labels


def test_level_crop_cuts_end_inside_a_level_and_never_cut_c1_from_below():
    from SpineFractureLib.train.fov_cut import draw_level_crop_cut

    hu, labels = _level_crop()
    rng = np.random.default_rng(0)
    ends, cut_levels = [], set()
    for _ in range(200):
        cut_hu, cut_labels = draw_level_crop_cut(hu, labels, rng, -1000.0)
        assert cut_hu.shape == hu.shape and cut_labels.shape == labels.shape  # the box keeps its shape
        air = np.flatnonzero((cut_hu == -1000.0).all(axis=(1, 2)))
        assert air.size and (air[0] == 0 or air[-1] == hu.shape[0] - 1)  # air from one edge of the crop
        end = "bottom" if air[0] == 0 else "top"
        ends.append(end)
        inside = cut_hu > -1000.0
        assert np.array_equal(cut_hu[inside], hu[inside]) and not cut_labels[~inside].any()
        partial = [v for v in range(1, 6) if 0 < (cut_labels == v).sum() < (labels == v).sum()]
        assert len(partial) == 1  # the plane lies inside one level, which keeps its name
        cut_levels.add((end, partial[0]))
        if end == "bottom":  # a scan ending below C1: C1 whole
            assert (cut_labels == 1).sum() == (labels == 1).sum()
        else:  # a scan starting above the lowest level: that one whole
            assert (cut_labels == 5).sum() == (labels == 5).sum()
    assert 0.45 < ends.count("bottom") / len(ends) < 0.75
    assert {lv for e, lv in cut_levels if e == "bottom"} == {2, 3, 4, 5}
    assert {lv for e, lv in cut_levels if e == "top"} == {1, 2, 3, 4}  # a chest CT's top: any level but the lowest
    assert draw_level_crop_cut(hu, np.where(labels == 1, 1, 0).astype(np.uint8), rng, -1000.0) is None


def test_level_crop_cuts_go_through_t1_below_c7_keeping_its_top_as_background():
    from SpineFractureLib.train.fov_cut import BOTTOM_CUT_SHARE, T1_CUT_SHARE, T1_KEPT_FRACTION, draw_level_crop_cut

    # C3..C7 as 8-slice boxes, C3 on top, and an unlabelled T1 box (z 0..9) under C7 (z 12..19).
    hu, labels = _level_crop(range(3, 8), top=82, depth=62)
    hu[0:10, 4:12, 4:12] = 300.0
    t1 = (0, 9)
    rng = np.random.default_rng(1)
    through_t1 = 0
    n = 600
    for _ in range(n):
        cut_hu, cut_labels = draw_level_crop_cut(hu, labels, rng, -1000.0, t1_slices=t1)
        kept_t1 = int((cut_hu[0:10, 8, 8] > -1000.0).sum())
        if 0 < kept_t1 < 10:
            through_t1 += 1
            assert np.array_equal(cut_labels, labels)  # C3..C7 whole, T1's top left in view unlabelled
            assert (cut_hu[10 - kept_t1:10, 8, 8] == 300.0).all()  # T1's top part stays
            assert T1_KEPT_FRACTION[0] * 10 - 1 <= kept_t1 <= T1_KEPT_FRACTION[1] * 10 + 1
    expected = n * BOTTOM_CUT_SHARE * T1_CUT_SHARE
    assert 0.6 * expected < through_t1 < 1.4 * expected
    # Without T1's slices, or without C7 in the crop, no cut goes through T1.
    for t1_arg, lab in ((None, labels), (t1, np.where(labels == 7, 0, labels).astype(np.uint8))):
        for _ in range(100):
            cut_hu, _ = draw_level_crop_cut(hu, lab, rng, -1000.0, t1_slices=t1_arg)
            assert (cut_hu[0:10, 8, 8] > -1000.0).sum() in (0, 10)


def test_level_stage_items_show_cut_scans_and_keep_the_other_draws():
    from SpineFractureLib.train.seg_data import PreparedSample, SegmentationDataset

    hu, labels = (np.kron(a, np.ones((2, 2, 2), a.dtype)) for a in _level_crop())  # the same crop at 1 mm
    sample = PreparedSample("toy", hu.astype(np.int16), labels, None)
    plain = SegmentationDataset([sample], stage="levels", seed=3)
    cut = SegmentationDataset([sample], stage="levels", seed=3, scan_cuts=1.0)
    never = SegmentationDataset([sample], stage="levels", seed=3, scan_cuts=0.0)
    for epoch in range(4):
        a, b, c = plain[(epoch, 0)], cut[(epoch, 0)], never[(epoch, 0)]
        assert torch.equal(a["image"], c["image"]) and torch.equal(a["label"], c["label"])
        assert (b["label"] > 0).sum() < (a["label"] > 0).sum()
        kept = (b["label"] > 0)
        assert torch.equal(b["label"][kept], a["label"][kept])  # same flip and names where in view
    with pytest.raises(ValueError, match="scan_cuts"):
        from SpineFractureLib.train.segmentation import TrainConfig

        TrainConfig(stage="levels", scan_cuts=1.5).validate()


def test_a_crop_above_the_scans_top_moves_up_or_down_never_losing_scan_at_the_top():
    from SpineFractureLib.train.fov_cut import jitter_box_above_scan

    hu, labels = _level_crop()
    top_air = 10
    hu, labels = hu.copy(), labels.copy()
    hu[-top_air:], labels[-top_air:] = -1000.0, 0  # the scan ends 10 slices below the box's top
    rng = np.random.default_rng(1)
    shifts = set()
    for _ in range(100):
        moved_hu, moved_labels = jitter_box_above_scan(hu, labels, rng, -1000.0, 6)
        assert moved_hu.shape == hu.shape
        rows = np.flatnonzero(moved_labels.any(axis=(1, 2)))
        shift = int(rows.max() - np.flatnonzero(labels.any(axis=(1, 2))).max())  # C1's top
        shifts.add(shift)
        assert -6 <= shift <= 6
        n = hu.shape[0]
        src = slice(max(0, -shift), n - max(0, shift))
        dst = slice(max(0, shift), n - max(0, -shift))
        assert np.array_equal(moved_hu[dst], hu[src]) and np.array_equal(moved_labels[dst], labels[src])
        assert (moved_hu[n - max(0, -shift):] == -1000.0).all()  # what it uncovers is air
    assert min(shifts) == -6 and max(shifts) == 6 and len(shifts) > 8
    # Only 3 slices of air above the scan: the content moves up by 3 at most.
    hu3 = hu.copy()
    hu3[-top_air:-3] = 40.0
    top = np.flatnonzero(labels.any(axis=(1, 2))).max()
    ups = {int(np.flatnonzero(jitter_box_above_scan(hu3, labels, rng, -1000.0, 6)[1].any(axis=(1, 2))).max() - top)
           for _ in range(60)}
    assert max(ups) == 3 and min(ups) == -6
    # A crop whose top slice holds scan (a neck's box, C1 in view) is left alone.
    assert jitter_box_above_scan(*_level_crop(), rng, -1000.0, 6) is None


def test_level_stage_items_jitter_only_boxes_above_the_scan():
    from SpineFractureLib.train.seg_data import PreparedSample, SegmentationDataset

    hu, labels = (np.kron(a, np.ones((2, 2, 2), a.dtype)) for a in _level_crop())
    neck = PreparedSample("neck", hu.astype(np.int16), labels, None)
    hu_chest = hu.astype(np.int16).copy()
    hu_chest[-40:] = -1024  # HU_AIR above the scan's top
    chest = PreparedSample("chest", hu_chest, np.where(np.arange(hu.shape[0])[:, None, None] < hu.shape[0] - 40,
                                                       labels, 0).astype(np.uint8), None)
    plain = SegmentationDataset([neck, chest], stage="levels", seed=3)
    jitter = SegmentationDataset([neck, chest], stage="levels", seed=3, box_jitter=6)
    moved = 0
    for epoch in range(6):
        assert torch.equal(plain[(epoch, 0)]["image"], jitter[(epoch, 0)]["image"])  # the neck is not moved
        a, b = plain[(epoch, 1)]["label"], jitter[(epoch, 1)]["label"]
        top_a, top_b = (int(np.flatnonzero((x[0] > 0).any(dim=(1, 2)).numpy()).max()) for x in (a, b))
        assert abs(top_b - top_a) <= 6  # the top level moved by whole 2 mm slices, 12 mm at most
        moved += int(top_b != top_a)
    assert moved >= 4
