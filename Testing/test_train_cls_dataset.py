"""The classifier dataset: region targets follow their ROI through every augmentation; the mask-surface options."""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.data.cls_cases import ClsSample
from SpineFractureLib.preprocess.roi import ROI_ZYX
from SpineFractureLib.train.cls_dataset import ClassificationDataset
from SpineFractureLib.train.mask_surface import jitter_neighbour_masks


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
