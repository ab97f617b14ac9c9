"""Image statistics of the realism comparison: each figure recovers what a synthetic volume was built with."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SpineFractureLib.metrics.image_stats import image_stats
from SpineFractureLib.preprocess.geometry import to_spacing
from SpineFractureLib.volume import CTVolume


def body_with_bone(noise_hu: float = 20.0, blur_vox: float = 0.0, seed: int = 0, spacing=(1.0, 1.0, 1.0)):
    """A 60 mm cube of 40 HU soft tissue in air, with a 20 mm cube of 800 HU bone inside, plus noise."""
    rng = np.random.default_rng(seed)
    hu = np.full((80, 80, 80), -1000.0, np.float32)
    hu[10:70, 10:70, 10:70] = 40.0
    hu[30:50, 30:50, 30:50] = 800.0
    if blur_vox:
        hu = ndimage.gaussian_filter(hu, blur_vox)
    hu += rng.normal(0.0, noise_hu, hu.shape).astype(np.float32)
    return CTVolume(hu, spacing, (0.0, 0.0, 0.0), np.eye(3))


def test_noise_bone_fraction_and_percentiles_are_recovered():
    s = image_stats(body_with_bone(noise_hu=20.0))
    assert s.soft_tissue_noise_hu == pytest.approx(20.0, rel=0.1)
    assert s.bone_fraction == pytest.approx(20 ** 3 / 60 ** 3, rel=0.05)
    assert s.bone_hu_percentiles[2] == pytest.approx(800.0, abs=5.0)
    assert s.body_hu_percentiles[2] == pytest.approx(40.0, abs=5.0)
    assert image_stats(body_with_bone(noise_hu=5.0)).soft_tissue_noise_hu == pytest.approx(5.0, rel=0.1)


def test_a_blurred_edge_is_less_sharp():
    sharp = image_stats(body_with_bone(noise_hu=2.0)).bone_edge_hu_per_mm
    soft = image_stats(body_with_bone(noise_hu=2.0, blur_vox=2.0)).bone_edge_hu_per_mm
    assert sharp > 1.5 * soft > 0


def test_air_outside_the_scan_and_the_table_are_not_body():
    ct = body_with_bone(noise_hu=0.0)
    hu = ct.array.copy()
    hu[:, :, :5] = -3024.0  # padding outside the scan
    hu[75:78, 10:70, 10:70] = 100.0  # a table below the body, not touching it
    s = image_stats(ct.with_array(hu))
    assert s.bone_fraction == pytest.approx(20 ** 3 / 60 ** 3, rel=0.01)


def test_to_spacing_makes_thick_slices_average_the_noise():
    ct = body_with_bone(noise_hu=30.0, seed=1)
    thick = to_spacing(ct, (1.0, 1.0, 4.0))
    assert thick.spacing == pytest.approx((1.0, 1.0, 4.0))
    assert thick.array.shape[0] == 20
    noise = image_stats(thick).soft_tissue_noise_hu
    assert noise < 0.75 * 30.0  # averaging over the slice thickness lowers white noise


def test_a_ct_without_a_body_is_refused():
    with pytest.raises(ValueError, match="no body"):
        image_stats(CTVolume(np.full((8, 8, 8), -1000.0, np.float32), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3)))


def _bone_with_marrow(texture_hu: float, seed: int = 0) -> CTVolume:
    """A 1.5 mm cortex (1000 HU) round a 24 mm cube of 250 HU marrow with a texture of
    ``texture_hu`` standard deviation (white, so it survives a 2 mm local mean), in soft tissue."""
    rng = np.random.default_rng(seed)
    hu = np.full((70, 70, 70), -1000.0, np.float32)
    hu[5:65, 5:65, 5:65] = 40.0
    hu[22:48, 22:48, 22:48] = 1000.0
    hu[24:46, 24:46, 24:46] = 250.0 + rng.normal(0.0, texture_hu, (22, 22, 22))
    return CTVolume(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))


def test_cancellous_spread_measures_the_marrow_texture_not_the_cortex():
    flat = image_stats(_bone_with_marrow(0.0)).cancellous_spread_hu
    textured = image_stats(_bone_with_marrow(60.0)).cancellous_spread_hu
    assert flat < 10.0  # the cortex 2 mm away is not counted as texture
    assert textured == pytest.approx(60.0, rel=0.15)
    assert image_stats(body_with_bone(noise_hu=5.0)).cancellous_spread_hu is None  # solid bone: no marrow


def test_cancellous_spread_leaves_out_brain_inside_a_skull_ring():
    rng = np.random.default_rng(1)
    hu = np.full((70, 70, 70), -1000.0, np.float32)
    hu[5:65, 5:65, 5:65] = 1000.0  # a closed bony box, as a skull's ring is in every axial slice
    hu[7:63, 7:63, 7:63] = 35.0 + rng.normal(0.0, 30.0, (56, 56, 56))  # brain, noisy
    assert image_stats(CTVolume(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))).cancellous_spread_hu is None
    hu[24:46, 24:46, 24:46] = 1000.0  # a bone with textured marrow inside the box
    hu[26:44, 26:44, 26:44] = 250.0 + rng.normal(0.0, 60.0, (18, 18, 18))
    spread = image_stats(CTVolume(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))).cancellous_spread_hu
    assert spread == pytest.approx(60.0, rel=0.15)  # the marrow, not the 30 HU brain
