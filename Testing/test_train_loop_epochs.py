"""Augmentation draws change from epoch to epoch, with DataLoader workers that persist."""

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from SpineFractureLib.train.loop import EpochIndexSampler, split_key
from SpineFractureLib.train.seg_data import PreparedSample, SegmentationDataset


def _dataset():
    rng = np.random.default_rng(5)
    hu = rng.integers(-1000, 1500, size=(16, 16, 16)).astype(np.int16)
    labels = np.zeros(hu.shape, np.uint8)
    labels[4:10, 4:10, 4:10] = 3
    return SegmentationDataset([PreparedSample("a", hu, labels, None)], patch_zyx=(8, 8, 8), augment=True, seed=1)


def _epochs(workers: int, n: int = 3) -> list[torch.Tensor]:
    ds = _dataset()
    sampler = EpochIndexSampler(DistributedSampler(ds, 1, 0, shuffle=True, seed=0))
    loader = DataLoader(ds, batch_size=1, sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
    images = []
    for epoch in range(n):
        sampler.set_epoch(epoch)
        images += [batch["image"] for batch in loader]
    return images


def test_persistent_workers_draw_a_new_augmentation_each_epoch():
    images = _epochs(workers=1)
    assert not torch.equal(images[0], images[1]) and not torch.equal(images[1], images[2])


def test_workers_and_main_process_draw_the_same():
    for a, b in zip(_epochs(workers=0), _epochs(workers=1)):
        torch.testing.assert_close(a, b)


def test_split_key_accepts_an_index_or_a_pair():
    assert split_key(4, default_epoch=2) == (2, 4)
    assert split_key((7, 4), default_epoch=2) == (7, 4)
