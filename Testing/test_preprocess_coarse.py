"""The 2 mm view of the level network: block means, majority labels, position, up-sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpineFractureLib.preprocess.coarse import (
    N_COARSE_CHANNELS,
    coarse_channels,
    coarse_hu,
    coarse_labels,
    position_channel,
    upsample_probabilities,
)


def test_coarse_hu_is_the_block_mean_and_pads_odd_sizes_with_air():
    hu = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    out = coarse_hu(hu)
    assert out.shape == (2, 2, 2)
    assert out[0, 0, 0] == pytest.approx(hu[:2, :2, :2].mean())
    assert out[0, 0, 1] == pytest.approx((hu[:2, :2, 2].sum() - 1024 * 4) / 8)


def test_coarse_labels_take_the_majority_of_each_block():
    labels = np.zeros((4, 2, 2), np.uint8)
    labels[:2] = 3
    labels[1, 0, 0] = 0  # 7 of 8 still 3
    labels[2:, :, :] = 5
    labels[2:, 0, :] = 0  # tie 4:4 -> the lower label
    assert coarse_labels(labels)[:, 0, 0].tolist() == [3, 0]


def test_position_and_channels():
    pos = position_channel((5, 2, 3))
    assert pos[0, 0, 0] == -1.0 and pos[-1, 1, 2] == 1.0 and np.all(np.diff(pos[:, 0, 0]) > 0)
    channels = coarse_channels(np.full((6, 4, 4), 300.0, np.float32))
    assert channels.shape == (N_COARSE_CHANNELS, 6, 4, 4) and channels.dtype == np.float32
    np.testing.assert_array_equal(channels[-1], position_channel((6, 4, 4)))


def test_upsample_probabilities_back_to_the_crop():
    rng = np.random.default_rng(0)
    probs = torch.softmax(torch.from_numpy(rng.normal(size=(8, 3, 4, 5)).astype(np.float32)), dim=0)
    up = upsample_probabilities(probs, (5, 8, 9))
    assert up.shape == (8, 5, 8, 9)
    np.testing.assert_allclose(up.sum(dim=0).numpy(), 1.0, atol=1e-5)
    # a constant field stays constant
    flat = upsample_probabilities(torch.full((8, 3, 4, 5), 1 / 8), (6, 8, 10))
    np.testing.assert_allclose(flat.numpy(), 1 / 8, atol=1e-6)
