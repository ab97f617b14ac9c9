"""Coarse-scanner augmentation: blur and resampling of a 1 mm box, drawn per patient in the dataset."""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.train.cls_dataset import ClassificationDataset
from SpineFractureLib.train.scan_augment import IN_PLANE_MM, SLICE_MM, coarsen, draw_voxel_zyx

from test_train_cls_dataset import _sample


def _thin_crack() -> np.ndarray:
    """Cortical-like bone (1000 HU) with a 1 mm lucent line across it (the kind of detail a coarse scan loses)."""
    box = np.full((48, 64, 64), 1000.0, np.float32)
    box[24, :, :] = 0.0
    return box


def test_a_coarse_voxel_washes_out_a_one_mm_crack_and_keeps_the_shape():
    box = _thin_crack()
    out = coarsen(box, (3.0, 3.0, 3.0))
    assert out.shape == box.shape and out.dtype == np.float32
    assert out[24].mean() > 600  # the crack is mostly filled in...
    assert abs(out[5:20].mean() - 1000) < 5 and abs(out.mean() - box.mean()) < 15  # ...bone stays bone


def test_the_slice_axis_blurs_on_its_own():
    box = _thin_crack()  # the crack lies across z: only a coarse slice spacing can wash it out
    in_plane_only = coarsen(box, (1.0, 3.5, 3.5))
    thick_slices = coarsen(box, (4.0, 1.0, 1.0))
    assert in_plane_only[24].mean() < 100 < 600 < thick_slices[24].mean()


def test_one_mm_voxels_change_nothing():
    box = np.random.default_rng(0).normal(300, 50, (16, 20, 20)).astype(np.float32)
    np.testing.assert_allclose(coarsen(box, (1.0, 1.0, 1.0)), box, atol=1e-3)


def test_voxels_are_drawn_square_in_plane_within_the_ranges():
    rng = np.random.default_rng(1)
    for _ in range(50):
        z, y, x = draw_voxel_zyx(rng)
        assert y == x and IN_PLANE_MM[0] <= y <= IN_PLANE_MM[1] and SLICE_MM[0] <= z <= SLICE_MM[1]


def test_the_dataset_coarsens_hu_only_and_leaves_the_other_draws_alone():
    plain = ClassificationDataset([_sample()], augment=True, balanced=False, seed=5)
    always = ClassificationDataset([_sample()], augment=True, balanced=False, seed=5, coarse_scans=1.0)
    for epoch in range(3):
        a, c = plain[(epoch, 0)]["rois"].numpy(), always[(epoch, 0)]["rois"].numpy()
        np.testing.assert_array_equal(a[:, 5:], c[:, 5:])  # masks, jitter, flips, rotations: the same
        assert not np.allclose(a[:, :5], c[:, :5])  # the HU channels (windows, bone, edge) are blurred...
        # ...and sharp edges are gone: the largest step between neighbouring voxels shrinks
        assert np.abs(np.diff(c[:, 0], axis=-1)).max() < np.abs(np.diff(a[:, 0], axis=-1)).max()


def test_a_probability_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="coarse_scans"):
        ClassificationDataset([_sample()], coarse_scans=1.5)
