"""HU calibration check: real HU accepted, intercept-less storage detected and corrected."""

import numpy as np
import pytest

from SpineFractureLib.io.calibration import check_hu_calibration


def test_toy_ct_in_hu_is_plausible(toy_ct):
    check = check_hu_calibration(toy_ct.array)
    assert check.plausible and check.suggested_offset is None
    assert -150 <= check.soft_tissue_peak <= 150


def test_missing_intercept_detected(toy_ct):
    stored = np.clip(toy_ct.array + 1024, 0, None)  # what a file with intercept 0 holds
    check = check_hu_calibration(stored)
    assert not check.plausible
    assert check.suggested_offset == -1024
    assert 900 <= check.soft_tissue_peak <= 1200
    assert "do not look like HU" in check.message


def test_tight_crop_without_air_is_still_hu():
    # soft tissue and bone only, no air: nothing below -200, but the tissue peak is near 40
    rng = np.random.default_rng(0)
    arr = np.concatenate([rng.normal(40, 20, 50_000), rng.normal(300, 80, 5_000), rng.normal(1100, 150, 2_000)])
    assert check_hu_calibration(arr).plausible


def test_padding_ignored():
    rng = np.random.default_rng(0)
    arr = np.concatenate([np.full(40_000, -3024.0), rng.normal(-1000, 20, 20_000), rng.normal(40, 20, 40_000)])
    check = check_hu_calibration(arr)
    assert check.plausible and check.negative_fraction == pytest.approx(1 / 3, abs=0.01)
