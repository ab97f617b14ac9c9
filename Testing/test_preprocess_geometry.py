"""Reorientation and resampling keep every structure where it is in the world."""

import numpy as np
import pytest

from scipy import ndimage

from SpineFractureLib.preprocess.geometry import (
    orientation_code,
    reorient,
    resample,
    resample_like,
    scan_reach_mm,
    scan_z_range_mm,
    to_spacing,
)
from SpineFractureLib.volume import CTVolume


def blob_volume(direction, spacing=(0.8, 0.9, 2.0), shape=(30, 40, 36), centre_ijk=(20, 15, 12)):
    """A bright ball (radius ~6 mm) on a dark background, and its label map."""
    k, j, i = np.indices(shape, dtype=float)
    ci, cj, ck = centre_ijk
    d2 = ((i - ci) * spacing[0]) ** 2 + ((j - cj) * spacing[1]) ** 2 + ((k - ck) * spacing[2]) ** 2
    ct = np.where(d2 <= 36.0, 1000.0, -1000.0).astype(np.float32)
    vol = CTVolume(ct, spacing, (5.0, -7.0, 12.0), direction)
    return vol, vol.with_array((d2 <= 36.0).astype(np.uint8) * 3)


def centroid_lps(vol, mask):
    kji = np.argwhere(mask).mean(axis=0)
    return vol.index_to_lps(kji[::-1])


def test_reorient_to_canonical_lps_is_lossless():
    rai = np.diag([-1.0, -1.0, -1.0])  # i to the right, j anterior, k inferior
    vol, _ = blob_volume(rai)
    assert orientation_code(vol) == "RAI"
    out = reorient(vol)
    assert orientation_code(out) == "LPS"
    assert np.allclose(out.direction, np.eye(3))
    assert out.array.shape == vol.array.shape
    assert np.isclose(out.array.sum(), vol.array.sum())
    assert np.allclose(centroid_lps(out, out.array > 0), centroid_lps(vol, vol.array > 0), atol=1e-6)


def test_reorient_permutes_axes():
    # i along S, j along L, k along P: array axes must be permuted, not only flipped
    perm = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    vol, _ = blob_volume(perm)
    out = reorient(vol, "LPS")
    assert out.shape_xyz == (vol.shape_xyz[1], vol.shape_xyz[2], vol.shape_xyz[0])
    assert np.allclose(centroid_lps(out, out.array > 0), centroid_lps(vol, vol.array > 0), atol=1e-6)


@pytest.mark.parametrize("axis_aligned", [False, True])
def test_resample_to_1mm_keeps_positions(oblique_direction, axis_aligned):
    vol, lab = blob_volume(oblique_direction)
    ct1 = resample(vol, 1.0, axis_aligned=axis_aligned)
    lab1 = resample(lab, 1.0, is_label=True, axis_aligned=axis_aligned)
    assert ct1.spacing == (1.0, 1.0, 1.0)
    assert ct1.array.dtype == np.float32 and lab1.array.dtype == np.uint8
    assert set(np.unique(lab1.array)) == {0, 3}
    assert lab1.same_grid(ct1)
    if axis_aligned:
        assert np.allclose(ct1.direction, np.eye(3))
    else:
        assert np.allclose(ct1.direction, oblique_direction)
        # same physical extent: array (z, y, x) = (30, 40, 36) at (2.0, 0.9, 0.8) mm
        assert ct1.shape_xyz == (29, 36, 60)
    before = centroid_lps(lab, lab.array > 0)
    assert np.allclose(centroid_lps(lab1, lab1.array > 0), before, atol=0.5)
    assert np.allclose(centroid_lps(ct1, ct1.array > 0), before, atol=0.5)
    # the ball's volume (mm^3) is preserved within a few percent
    v_before = np.count_nonzero(lab.array) * np.prod(lab.spacing)
    assert abs(np.count_nonzero(lab1.array) - v_before) / v_before < 0.06


def test_resample_outside_is_air(oblique_direction):
    vol, _ = blob_volume(oblique_direction)
    vol.array[:] = 50.0
    out = resample(vol, 1.5, axis_aligned=True)  # the bounding box has corners outside the FOV
    assert out.array.min() == pytest.approx(-1024.0)
    assert np.isclose(np.median(out.array[out.array > 0]), 50.0)


def test_resample_like_back_to_input_grid(oblique_direction):
    vol, lab = blob_volume(oblique_direction)
    lab1 = resample(lab, 1.0, is_label=True, axis_aligned=True)
    back = resample_like(lab1, lab, is_label=True)
    assert back.same_grid(lab)
    dice = 2 * np.sum((back.array > 0) & (lab.array > 0)) / (np.sum(back.array > 0) + np.sum(lab.array > 0))
    assert dice > 0.9


def test_resample_bad_spacing():
    vol, _ = blob_volume(np.eye(3))
    with pytest.raises(ValueError):
        resample(vol, (1.0, -1.0, 1.0))


def _gaussian_then_resample(ct: CTVolume, new_mm: float) -> CTVolume:
    """The blur to_spacing stands for, done the slow way: one Gaussian on the fine grid."""
    old = np.asarray(ct.spacing)
    sigma = np.sqrt(new_mm ** 2 - old ** 2) / 2.3548 / old
    return resample(ct.with_array(ndimage.gaussian_filter(ct.array, sigma[::-1], mode="nearest")), new_mm)


@pytest.mark.parametrize("spacing", [(0.35, 0.35, 0.5), (0.8, 0.8, 2.0)])
def test_to_spacing_matches_a_single_gaussian(spacing):
    # Block averaging before the Gaussian must give the same blur: a 1000 HU ball's edge stays
    # within 15 HU, a linear ramp is exact (no shift of the grid), and the grid is the same.
    shape = (80, 96, 96)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    r = np.sqrt(((z - 40) * spacing[2]) ** 2 + ((y - 48) * spacing[1]) ** 2 + ((x - 48) * spacing[0]) ** 2)
    ball = CTVolume(np.where(r < 12.0, 1000.0, 0.0).astype(np.float32), spacing, (10.0, -5.0, 3.0), np.eye(3))
    fast, slow = to_spacing(ball, 4.0), _gaussian_then_resample(ball, 4.0)
    assert fast.same_grid(slow)
    assert np.abs(fast.array - slow.array).max() < 15.0
    ramp = ball.with_array((2.0 * x * spacing[0] + y * spacing[1] + 0.5 * z * spacing[2]).astype(np.float32))
    inner = (slice(2, -2),) * 3
    assert np.abs(to_spacing(ramp, 4.0).array - _gaussian_then_resample(ramp, 4.0).array)[inner].max() < 1e-3


def test_scan_reach_above_and_below_a_crop():
    # A scan from z = 0 to 99 mm (1 mm slices, stored feet-first flipped: direction z = -1) and a crop
    # from 30 to 59 mm: 40 mm of scan above the crop's top slice, 30 mm below its bottom one.
    flip = np.diag([1.0, 1.0, -1.0])
    ct = CTVolume(np.zeros((100, 4, 4), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 99.0), flip)
    crop = CTVolume(np.zeros((30, 4, 4), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 30.0), np.eye(3))
    assert scan_reach_mm(ct, crop) == pytest.approx((40.0, 30.0))
    beyond = CTVolume(np.zeros((30, 4, 4), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 80.0), np.eye(3))
    # A crop padded past the scan's top (80 to 109 mm): the scan ends 10 mm below its top slice.
    assert scan_reach_mm(ct, beyond) == pytest.approx((-10.0, 80.0))


def test_scan_z_range_of_a_feet_first_series():
    """Slices stored head to feet (direction z = -1): the range is still lowest, highest."""
    ct = CTVolume(np.zeros((11, 4, 4), np.float32), spacing=(1.0, 1.0, 3.0), origin=(0.0, 0.0, 50.0),
                  direction=np.diag([1.0, 1.0, -1.0]))
    assert scan_z_range_mm(ct) == pytest.approx((20.0, 50.0))
