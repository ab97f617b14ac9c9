"""cls_readout: the patient sources, the mirrored ROIs and the heat-map readouts, by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from SpineFractureLib.models.cls_readout import (cut_ends, cut_level_offsets, mirrored, patient_probability,
                                                patient_raw_logit, readout_heat)


def test_patient_sources():
    z = np.array([-2.0, 1.0, 0.5])
    assert patient_raw_logit("head", z, -3.0) == -3.0
    assert patient_raw_logit("max_level", z, -3.0) == 1.0
    assert patient_raw_logit("mean_head_max", z, -3.0) == -1.0
    assert patient_probability("max_level", z, -3.0, 1.0, 2.0) == pytest.approx(1 / (1 + np.exp(-0.5)))
    p = 1 / (1 + np.exp(-z / 2.0))
    assert patient_probability("noisy_or", z, -3.0, 2.0, 1.0) == pytest.approx(1 - np.prod(1 - p))
    with pytest.raises(ValueError):
        patient_probability("vote", z, 0.0, 1.0, 1.0)


def test_noisy_or_has_a_temperature_of_its_own():
    z = np.array([-2.0, 1.0, 0.5])
    q = 1 - np.prod(1 - 1 / (1 + np.exp(-z / 2.0)))
    assert patient_raw_logit("noisy_or", z, -3.0, 2.0) == pytest.approx(np.log(q / (1 - q)))
    # temperature 2 halves the noisy-OR's logit: the probability moves towards 0.5
    scaled = patient_probability("noisy_or", z, -3.0, 2.0, 2.0)
    assert scaled == pytest.approx(1 / (1 + np.exp(-np.log(q / (1 - q)) / 2.0)))
    assert 0.5 < scaled < q
    # a saturated noisy-OR keeps a finite logit
    assert np.isfinite(patient_raw_logit("noisy_or", np.full(7, 40.0), 0.0))


def test_mirrored_flips_left_right_only():
    x = torch.arange(2 * 3 * 2 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 2, 4)
    m = mirrored(x)
    assert torch.equal(m[..., 0], x[..., 3]) and torch.equal(mirrored(m), x)


def test_gradcam_times_region_is_rescaled_per_level():
    cam = np.zeros((2, 4, 4, 4), np.float32)
    cam[0, 1, 1, 1], cam[0, 2, 2, 2] = 1.0, 0.8
    region = np.full_like(cam, 0.1)
    region[0, 2, 2, 2] = 0.9  # the region head moves level 0's peak to its own cell
    heat = readout_heat("gradcam_x_region", cam, region)
    assert heat[0].max() == pytest.approx(1.0) and np.unravel_index(heat[0].argmax(), (4, 4, 4)) == (2, 2, 2)
    assert not heat[1].any()  # a level without heat stays 0
    assert readout_heat("gradcam_x_region", cam, None) is cam  # no region head: Grad-CAM
    assert readout_heat("gradcam", cam, region) is cam


def test_cut_level_offsets_go_to_levels_on_the_input_edges_only():
    labels = np.zeros((30, 8, 8), np.uint8)
    labels[0:6] = 7    # C7 on slice 0: cut by the bottom edge (z runs towards the head)
    labels[10:20] = 6  # C6 whole
    labels[24:30] = 5  # C5 on the last slice: cut by the top edge
    values = np.array([5, 6, 7])
    assert cut_ends(labels, values) == [("top",), (), ("bottom",)]
    off = cut_level_offsets(labels, values, {"bottom": -1.5, "top": -0.25})
    assert off.tolist() == [-0.25, 0.0, -1.5]
    assert cut_level_offsets(labels, values, {"bottom": -1.5}).tolist() == [0.0, 0.0, -1.5]
    assert cut_level_offsets(labels, values, {}).tolist() == [0.0, 0.0, 0.0]
    labels[-1, 0, 0] = 7  # a level on both edges gets both offsets
    assert cut_level_offsets(labels, np.array([7]), {"bottom": -1.5, "top": -0.25}).tolist() == [-1.75]


def test_a_crop_filled_with_air_past_the_scan_cuts_the_level_against_it():
    labels = np.zeros((30, 8, 8), np.uint8)
    labels[8:14] = 7
    labels[16:22] = 6
    hu = np.full(labels.shape, -1000.0, np.float32)  # scanned air (noisy in a real scan, never exactly -1024)
    hu[labels > 0] = 300.0
    assert cut_ends(labels, np.array([6, 7]), hu) == [(), ()]
    hu[:8] = -1024.0  # the scan starts at slice 8: C7 lies on its lower edge
    assert cut_ends(labels, np.array([6, 7]), hu) == [(), ("bottom",)]
    assert cut_ends(labels, np.array([6, 7])) == [(), ()]  # without the HU only the array's ends count
    assert cut_level_offsets(labels, np.array([6, 7]), {"bottom": -1.0}, hu).tolist() == [0.0, -1.0]
