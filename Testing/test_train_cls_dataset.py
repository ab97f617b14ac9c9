"""The classifier dataset: region targets follow their ROI through every augmentation; neighbour masks jitter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SpineFractureLib.data.cls_cases import ClsSample
from SpineFractureLib.preprocess.roi import ROI_ZYX
from SpineFractureLib.train.cls_dataset import ClassificationDataset, jitter_neighbour_masks, move_mask_surfaces


def _sample(with_truth: bool = True) -> ClsSample:
    """A 1 mm crop with C3..C5 boxes; a bright bar (the 'fracture') off-centre in C4."""
    shape = (120, 90, 90)
    hu = np.full(shape, 40, np.int16)
    labels = np.zeros(shape, np.uint8)
    for v, z0 in ((3, 20), (4, 50), (5, 80)):
        labels[z0:z0 + 20, 30:60, 30:60] = v
        hu[z0:z0 + 20, 30:60, 30:60] = 300
    truth = np.zeros(shape, np.uint8)
    truth[58:62, 34:40, 36:52] = 1  # anterior-left part of C4
    hu[truth > 0] = 1500
    fractured = np.array([-1, -1, 0, 1, 0, -1, -1], np.int8)
    return ClsSample("toy", hu, labels, None, np.zeros(shape, np.uint8), truth if with_truth else None,
                     fractured, {"levels": {}})


@pytest.mark.parametrize("augment", [False, True])
def test_region_target_stays_on_the_fracture_it_marks(augment):
    ds = ClassificationDataset([_sample()], augment=augment, balanced=False, seed=3, region_targets=True)
    for epoch in range(4):  # several draws: flips and rotations
        item = ds[(epoch, 0)]
        assert bool(item["has_region"]) and item["region"].shape == (3, *ROI_ZYX)
        c4 = list(item["levels"].numpy()).index(3)
        region = item["region"][c4].numpy() > 0
        bright = item["rois"][c4, 0].numpy()  # window 1800/400: 1500 HU is at the top of the window
        assert region.sum() > 100
        assert bright[region].mean() > 0.85  # the region sits on the bright bar...
        assert bright[~region].mean() < 0.6  # ...and the rest is not bar
    if not augment:  # C3's box (centred 30 mm lower) ends below C4's bar
        assert not item["region"][list(item["levels"].numpy()).index(2)].any()


def test_a_case_without_a_fracture_mask_says_so():
    ds = ClassificationDataset([_sample(with_truth=False)], augment=False, balanced=False, region_targets=True)
    item = ds[0]
    assert not bool(item["has_region"]) and not item["region"].any()


def test_region_targets_are_only_returned_when_asked():
    item = ClassificationDataset([_sample()], augment=False, balanced=False)[0]
    assert "region" not in item and "has_region" not in item


def _roi_channels() -> np.ndarray:
    """Nine channels of a toy ROI: the level's mask in the middle, its neighbours' above and below."""
    ch = np.zeros((9, 24, 20, 20), np.float32)
    ch[6, 2:8, 5:15, 5:15] = 1  # level above
    ch[5, 9:15, 5:15, 5:15] = 1  # the level
    ch[7, 16:22, 5:15, 5:15] = 1  # level below
    ch[0] = np.random.default_rng(0).random(ch.shape[1:])
    return ch


def test_neighbour_masks_move_by_one_or_two_mm_and_never_into_the_level():
    before = _roi_channels()
    sizes = {6: set(), 7: set()}
    for seed in range(40):
        ch = before.copy()
        jitter_neighbour_masks(ch, np.random.default_rng(seed), 1.0)
        assert np.array_equal(ch[[0, 1, 2, 3, 4, 5, 8]], before[[0, 1, 2, 3, 4, 5, 8]])  # only 6 and 7 change
        for c in (6, 7):
            assert not (ch[c].astype(bool) & before[5].astype(bool)).any()
            sizes[c].add(int(ch[c].sum()))
    full = int(before[6].sum())  # 6 x 10 x 10 = 600 voxels
    for c in (6, 7):
        # shrunk by 1 or 2 mm, grown by 1 or 2 mm (the growth clipped where it meets the level):
        # four sizes, none the original one, since p = 1 always changes the channel
        assert len(sizes[c]) == 4 and full not in sizes[c]
        assert min(sizes[c]) == 2 * 6 * 6 and max(sizes[c]) > full  # 2 mm eroded: 2 x 6 x 6


def test_neighbour_masks_left_alone_at_probability_zero_and_without_augmentation():
    before = _roi_channels()
    ch = before.copy()
    jitter_neighbour_masks(ch, np.random.default_rng(1), 0.0)
    assert np.array_equal(ch, before)
    s = _sample()
    plain = ClassificationDataset([s], augment=False, balanced=False, neighbour_masks=1.0)[0]["rois"]
    assert np.array_equal(plain, ClassificationDataset([s], augment=False, balanced=False)[0]["rois"])


def test_neighbour_mask_jitter_leaves_the_other_draws_as_they_were():
    s = _sample()
    base = ClassificationDataset([s], augment=True, balanced=False, seed=5)[(0, 0)]["rois"].numpy()
    jit = ClassificationDataset([s], augment=True, balanced=False, seed=5, neighbour_masks=1.0)[(0, 0)]["rois"].numpy()
    assert np.array_equal(base[:, :6], jit[:, :6]) and np.array_equal(base[:, 8], jit[:, 8])
    assert not np.array_equal(base[:, 6:8], jit[:, 6:8])
    with pytest.raises(ValueError, match="neighbour_masks"):
        ClassificationDataset([s], neighbour_masks=1.5)


def test_mask_surfaces_move_every_level_together_and_never_relabel():
    labels = _sample().predicted
    counts = np.bincount(labels.ravel(), minlength=8)
    for mm in (1, 2):
        grown, shrunk = move_mask_surfaces(labels, mm), move_mask_surfaces(labels, -mm)
        for v in (3, 4, 5):
            assert np.array_equal(shrunk == v, ndimage.binary_erosion(labels == v, iterations=mm))
            assert (grown == v).sum() > counts[v] > (shrunk == v).sum()
        kept = labels > 0
        assert np.array_equal(grown[kept], labels[kept])  # level voxels keep their level
        assert set(np.unique(shrunk[kept])) <= {0, 3, 4, 5}
    assert np.array_equal(move_mask_surfaces(labels, 0), labels)
    # C3 (z 20-39) grown by 2 mm reaches z 18 and stops at z 17
    assert (move_mask_surfaces(labels, 2)[18] == 3).any() and not (move_mask_surfaces(labels, 2)[17] == 3).any()


def test_mask_surfaces_augmentation_changes_every_mask_channel_of_a_patient():
    s = _sample()
    base = ClassificationDataset([s], augment=True, balanced=False, seed=5)
    moved = ClassificationDataset([s], augment=True, balanced=False, seed=5, mask_surfaces=1.0)
    changed = 0
    for epoch in range(6):
        a, b = base[(epoch, 0)]["rois"].numpy(), moved[(epoch, 0)]["rois"].numpy()
        assert np.array_equal(a[:, :5], b[:, :5])  # the HU channels see the same draws
        changed += int(not np.array_equal(a[:, 6:8], b[:, 6:8]))
    assert changed == 6


def test_a_mask_cut_by_the_box_is_not_shrunk_at_the_cut():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[:8, 5:15, 5:15] = 2  # cut by the box's bottom face
    shrunk = move_mask_surfaces(labels, -1)
    assert (shrunk[0] == 2).sum() == 8 * 8  # the cut face keeps its voxels, the sides lose theirs
    assert not (shrunk[7] == 2).any()
    ch = np.zeros((9, 20, 20, 20), np.float32)
    ch[6] = labels == 2
    for seed in range(20):
        jittered = ch.copy()
        jitter_neighbour_masks(jittered, np.random.default_rng(seed), 1.0)
        assert jittered[6, 0].sum() >= 6 * 6  # shrunk by at most 2 mm at the sides, never at the cut
