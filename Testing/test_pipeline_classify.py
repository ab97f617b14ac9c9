"""Classifier.classify: where each level's peak (the slice the reader is taken to) comes from — the
classifier's fracture-region head where it has one, else Grad-CAM — and that it lies in the level."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from SpineFractureLib.models.classifier import FractureClassifier
from SpineFractureLib.models.classifier_weights import Calibration, save_classifier
from SpineFractureLib.pipeline.classify import Classifier

SHAPE = (120, 90, 90)  # 1 mm crop (z, y, x)


@pytest.fixture
def crop():
    rng = np.random.default_rng(1)
    hu = rng.normal(40.0, 20.0, SHAPE).astype(np.float32)
    labels = np.zeros(SHAPE, np.uint8)
    labels[20:45, 30:60, 30:60] = 4  # C4, its centroid near (32, 45, 45)
    labels[60:85, 30:60, 30:60] = 5
    hu[labels > 0] = 400.0
    return hu, labels


class _HotCell(nn.Module):
    """A stand-in region head: one hot 8 mm cell, the one at the front-lower corner of each ROI grid."""

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        out = torch.full((fmap.shape[0], 1, *fmap.shape[2:]), -10.0)
        out[:, :, 2, 2, 2] = 10.0
        return out


def _classifier(tmp_path, region_head: bool) -> Classifier:
    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=region_head, pool="mean_max")
    save_classifier(tmp_path / "cls.pt", net, inputs={"windows": 3, "fracture_input": True},
                    calibration=Calibration(), name="tiny", version="0", trained_on="nothing (a test)")
    return Classifier(str(tmp_path / "cls.pt"), "cpu")


def test_peak_comes_from_the_region_head_and_lies_in_the_level(tmp_path, crop):
    hu, labels = crop
    clf = _classifier(tmp_path, region_head=True)
    clf.network.region_head = _HotCell()
    result = clf.classify(hu, labels, gradcam=True)
    assert result.peak_source == "fracture-region head"
    for index, value in ((3, 4), (4, 5)):
        peak = result.peak_zyx[index]
        assert labels[peak] == value  # inside the level
        assert result.gradcam_peak_zyx[index] is not None and labels[result.gradcam_peak_zyx[index]] == value
    # the hot cell (index 2 of 6 along z, 8 mm cells) is below each ROI's centre: the peak follows it
    centre_z = np.nonzero(labels == 4)[0].mean()
    assert result.peak_zyx[3][0] < centre_z
    assert result.peak_zyx[0] is None  # C1 absent
    without = clf.classify(hu, labels, gradcam=False)  # the peak needs no Grad-CAM
    assert without.peak_zyx == result.peak_zyx and without.gradcam_peak_zyx == [None] * 7


def test_without_a_region_head_the_peak_is_grad_cams(tmp_path, crop):
    hu, labels = crop
    clf = _classifier(tmp_path, region_head=False)
    result = clf.classify(hu, labels, gradcam=True)
    assert result.peak_source == "Grad-CAM" and result.peak_zyx == result.gradcam_peak_zyx
    assert clf.classify(hu, labels, gradcam=False).peak_source is None


def test_readout_options_from_the_calibration(tmp_path, crop):
    # The readout chosen on validation is stored in the weights' calibration and applied at inference.
    hu, labels = crop
    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=True, pool="mean_max")
    plain = Calibration()
    chosen = Calibration(flip_average=True, patient_source="noisy_or", heatmap="gradcam_x_region")
    for name, cal in (("plain.pt", plain), ("chosen.pt", chosen)):
        save_classifier(tmp_path / name, net, inputs={"windows": 3, "fracture_input": True}, calibration=cal,
                        name="tiny", version="0", trained_on="nothing (a test)")
    a = Classifier(str(tmp_path / "plain.pt"), "cpu").classify(hu, labels)
    clf = Classifier(str(tmp_path / "chosen.pt"), "cpu")
    assert clf.loaded.calibration.patient_source == "noisy_or"  # read back from the file
    b = clf.classify(hu, labels)
    pa, pb = np.array(a.probabilities[3:5]), np.array(b.probabilities[3:5])
    assert not np.allclose(pa, pb)  # the mirrored ROIs' logits were averaged in
    assert b.patient_probability == pytest.approx(1.0 - np.prod(1.0 - pb), rel=1e-5)
    assert 0.0 <= b.heatmap.min() and b.heatmap.max() <= 1.0 and not np.allclose(a.heatmap, b.heatmap)
    with pytest.raises(ValueError, match="patient_source"):
        Calibration(patient_source="mean")


def test_a_level_cut_by_the_scan_edge_gets_its_ends_offset(tmp_path, crop):
    # The scan starts right under C4 (the crop is filled with -1024 HU below, as crop_to_box fills
    # it past a scan): only C4's probability moves, by the bottom offset.
    hu, labels = crop
    hu = hu.copy()
    hu[:20] = -1024.0
    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=True, pool="mean_max")
    for name, bias in (("plain.pt", {}), ("cut.pt", {"bottom": -2.0, "top": 5.0})):
        save_classifier(tmp_path / name, net, inputs={"windows": 3, "fracture_input": True},
                        calibration=Calibration(level_temperature=1.5, patient_source="max_level", cut_level_bias=bias),
                        name="tiny", version="0", trained_on="nothing (a test)")
    a = Classifier(str(tmp_path / "plain.pt"), "cpu").classify(hu, labels, gradcam=False)
    clf = Classifier(str(tmp_path / "cut.pt"), "cpu")
    assert clf.loaded.calibration.cut_level_bias == {"bottom": -2.0, "top": 5.0}  # read back from the file
    b = clf.classify(hu, labels, gradcam=False)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(b.probabilities[3]) == pytest.approx(logit(a.probabilities[3]) - 2.0, abs=1e-4)
    assert b.probabilities[4] == pytest.approx(a.probabilities[4], abs=1e-6)  # C5 touches no edge
    # the patient reads the largest level logit: it saw the cut level's offset too
    top = max(logit(b.probabilities[3]), logit(b.probabilities[4])) * 1.5
    assert logit(b.patient_probability) == pytest.approx(top, abs=1e-3)
    with pytest.raises(ValueError, match="cut_level_bias"):
        Calibration(cut_level_bias={"left": 1.0})
