"""Post-processing: one component per level; levels reordered head to feet."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.models.postprocess import keep_largest_component, order_levels, postprocess_levels


def _stack(order):
    labels = np.zeros((len(order) * 8 + 2, 5, 5), np.uint8)
    nz = labels.shape[0]
    for i, v in enumerate(order):
        top = nz - 2 - i * 8
        labels[top - 6:top] = v
    return labels


def test_keep_largest_component_drops_islands():
    labels = _stack((1, 2, 3))
    labels[0, 0, 0] = 2  # a stray C2 voxel far from C2
    out = keep_largest_component(labels)
    assert out[0, 0, 0] == 0
    assert np.count_nonzero(out == 2) == np.count_nonzero(labels == 2) - 1


def test_order_levels_fixes_a_swap_and_keeps_a_correct_order():
    good = _stack((1, 2, 3, 4))
    np.testing.assert_array_equal(order_levels(good), good)
    swapped = _stack((1, 3, 2, 4))
    np.testing.assert_array_equal(order_levels(swapped), good)
    # a partial column keeps its level values, just ordered
    partial = _stack((5, 3, 4))
    np.testing.assert_array_equal(order_levels(partial), _stack((3, 4, 5)))


def test_postprocess_combines_both():
    labels = _stack((2, 1, 3))
    labels[1, 1, 1] = 1
    out = postprocess_levels(labels)
    np.testing.assert_array_equal(out, _stack((1, 2, 3)))
