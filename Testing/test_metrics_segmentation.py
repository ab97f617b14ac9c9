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


def test_the_t1_cut_benchmark_cuts_below_t1s_top_and_names_what_t1_was_called():
    from SpineFractureLib.data.case import LabelledCase
    from SpineFractureLib.volume import CTVolume

    bench = load_benchmark("seg_t1_cut")
    labels = np.zeros((40, 6, 6), np.uint8)
    labels[0:10], labels[12:20], labels[22:30] = 8, 7, 6  # T1 (z 0-9), C7, C6; 2 mm slices
    ct = CTVolume(np.zeros(labels.shape, np.float32), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 100.0))
    case = LabelledCase("toy", ct, ct.with_array(labels))
    cut = bench.cut_into_t1(case, 8.0)  # T1's top slice 9 at z 118 mm: keep z >= 110 mm
    assert cut.ct.array.shape == (35, 6, 6) and cut.ct.origin[2] == 110.0
    assert (cut.labels.array == 8).sum() == 5 * 36
    assert bench.cut_into_t1(case, 30.0) is None  # the scan does not reach 30 mm below T1's top
    assert bench.cut_into_t1(LabelledCase("c", ct, ct.with_array(np.where(labels == 8, 0, labels))), 4.0) is None
    # T1 called "C7", C7 called "C6": the failure of session 48.
    pred = cut.labels.array.copy()
    pred[pred == 6] = 0
    pred[pred == 7] = 6
    pred[pred == 8] = 7
    s = bench.score(pred, cut)
    assert s["t1_called"] == "C7" and s["t1_cervical_share"] == 1.0
    assert s["misnamed"] == ["C6", "C7"]
    right = bench.score(np.where(cut.labels.array == 8, 0, cut.labels.array), cut)
    assert right["t1_called"] is None and right["misnamed"] == []
