"""Bone-density augmentation: bone made denser or less dense, soft tissue left alone, one change per patient."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SpineFractureLib.train import cls_dataset
from SpineFractureLib.train.bone_density import RAMP_HU, SHIFT_HU, draw_bone_density_shift, shift_bone_density
from SpineFractureLib.train.cls_dataset import ClassificationDataset

from test_train_cls_dataset import _sample


def test_soft_tissue_stays_cortex_moves_whole_and_cancellous_part_of_it():
    hu = np.array([-1000.0, 40.0, RAMP_HU[0], 250.0, RAMP_HU[1], 1200.0], np.float32)
    out = shift_bone_density(hu, -150.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:3], hu[:3])  # air, soft tissue, the ramp's foot: unchanged
    np.testing.assert_allclose(out[4:], hu[4:] - 150.0)  # cortex: the whole change
    assert hu[3] - 150.0 < out[3] < hu[3]  # cancellous: part of it (here half)
    np.testing.assert_allclose(out[3], 250.0 - 75.0)


@pytest.mark.parametrize("delta", [SHIFT_HU[0], -100.0, 0.0, 120.0, SHIFT_HU[1]])
def test_a_denser_voxel_stays_denser(delta):
    hu = np.linspace(-1000, 2000, 3001, dtype=np.float32)
    assert np.all(np.diff(shift_bone_density(hu, delta)) > 0)


def test_a_change_that_would_fold_the_hu_scale_is_refused():
    with pytest.raises(ValueError, match="monotonic"):
        shift_bone_density(np.zeros(3), -(RAMP_HU[1] - RAMP_HU[0]))


def test_changes_are_drawn_over_the_whole_range():
    draws = np.array([draw_bone_density_shift(np.random.default_rng(s)) for s in range(200)])
    assert SHIFT_HU[0] <= draws.min() < SHIFT_HU[0] + 50 and SHIFT_HU[1] - 50 < draws.max() <= SHIFT_HU[1]


def test_the_dataset_changes_bone_only_and_leaves_the_other_draws_alone(monkeypatch):
    monkeypatch.setattr(cls_dataset, "draw_bone_density_shift", lambda rng: 200.0)
    plain = ClassificationDataset([_sample()], augment=True, balanced=False, seed=5)
    denser = ClassificationDataset([_sample()], augment=True, balanced=False, seed=5, bone_density=1.0)
    for epoch in range(3):
        a, d = plain[(epoch, 0)]["rois"].numpy(), denser[(epoch, 0)]["rois"].numpy()
        np.testing.assert_array_equal(a[:, 5:], d[:, 5:])  # masks, jitter, flips, rotations: the same
        inside = ndimage.binary_erosion(a[:, 5] > 0, iterations=2)  # the level's own bone (300 HU)
        # Soft tissue away from any bone (the box also holds levels that are no neighbour): 40 HU is
        # under 150 HU after the calibration jitter (×0.92–1.08, ±40 HU) and bone (300) over it;
        # window 0 is 1800/400. The dilation covers interpolated rims and the edge channel's reach.
        bone = a[:, 0] > (150 + 500) / 1800
        far = ~ndimage.binary_dilation(bone, iterations=4)
        assert far.mean() > 0.5
        assert (d[:, 0][inside] > a[:, 0][inside] + 0.02).all()  # the window channel reads denser bone...
        hu_d, hu_a = d[:, :5].swapaxes(0, 1)[:, far], a[:, :5].swapaxes(0, 1)[:, far]
        np.testing.assert_allclose(hu_d[:4], hu_a[:4], atol=1e-6)  # ...soft tissue as it was (windows, bone prior)
        np.testing.assert_allclose(hu_d[4], hu_a[4], atol=1e-2)  # the edge prior's Gaussian tails reach further


def test_the_dataset_draws_nothing_without_augmentation():
    kw = dict(augment=False, balanced=False, seed=5)
    a = ClassificationDataset([_sample()], **kw)[0]["rois"].numpy()
    b = ClassificationDataset([_sample()], bone_density=1.0, **kw)[0]["rois"].numpy()
    np.testing.assert_array_equal(a, b)


def test_a_probability_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="bone_density"):
        ClassificationDataset([_sample()], bone_density=-0.1)
