"""Mask surfaces moved by 1-2 mm: neighbour channels of a ROI, and every level of a label box."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from SpineFractureLib.train.mask_surface import jitter_neighbour_masks, move_mask_surfaces
from test_train_cls_dataset import _roi_channels, _sample


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
