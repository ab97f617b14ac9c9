"""Segmentation metrics on small label maps."""

import numpy as np
from conftest import load_benchmark

from SpineFractureLib.metrics.segmentation import fracture_kept_in_mask


def test_fracture_kept_in_mask_is_the_share_of_the_true_region_the_level_keeps():
    truth = np.zeros((10, 6, 6), np.uint8)
    truth[0:5], truth[5:10] = 2, 3
    fracture = np.zeros_like(truth)
    fracture[3:5, 2:4, 2:4] = 1  # 8 voxels in C2 (the top of its "dens")
    fracture[5, 0, 0] = 1  # one in C3
    predicted = truth.copy()
    assert fracture_kept_in_mask(predicted, truth, fracture, 2) == 1.0
    predicted[4] = 0  # the segmentation leaves C2's top slice out: half the region
    assert fracture_kept_in_mask(predicted, truth, fracture, 2) == 0.5
    predicted[3] = 1  # and calls the slice below C1: nothing kept
    assert fracture_kept_in_mask(predicted, truth, fracture, 2) == 0.0
    assert fracture_kept_in_mask(predicted, truth, fracture, 3) == 1.0
    assert fracture_kept_in_mask(predicted, truth, fracture, 4) is None


def test_the_benchmark_groups_what_each_mask_keeps_by_fracture_kind():
    from SpineFractureLib.data.cls_cases import ClsSample

    bench = load_benchmark("seg_fracture_in_mask")

    truth = np.zeros((10, 6, 6), np.uint8)
    truth[0:5], truth[5:10] = 2, 3
    fracture = np.zeros_like(truth)
    fracture[3:5] = 1  # C2's top two slices
    predicted = truth.copy()
    predicted[4] = 0  # the dens' top left out
    fractured = np.array([0, 1, 0, -1, -1, -1, -1], np.int8)
    levels = {"C2": {"present": True, "fractured": True, "kind": "dens"}, "C3": {"present": True, "fractured": False}}
    sample = ClsSample("phantom-7-x", truth.astype(np.int16), predicted, truth, predicted, fracture, fractured,
                       {"levels": levels})
    dice = {"intact": [], "dens": []}
    c2_dice = 2 * 144 / (180 + 144)
    assert dict(bench.kept_by_kind([sample, sample], dice)) == {"dens": [("phantom-7-x", "C2", 0.5, c2_dice)] * 2}
    assert dice == {"intact": [1.0, 1.0], "dens": [c2_dice] * 2}
