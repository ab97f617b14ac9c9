"""Bone windows, priors and the cervical-spine crop."""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.preprocess.channels import (
    BONE_WINDOWS,
    N_CHANNELS,
    bone_likelihood,
    bone_window,
    edge_prior,
    make_channels,
)
from SpineFractureLib.preprocess.crop import (
    CERVICAL_HEIGHT_MM,
    MIN_RAISE_MM,
    TOP_MARGIN_MM,
    MAX_TOP_GAP_MM,
    SpineBox,
    box_around,
    column_runs_above,
    crop_to_box,
    extend_beyond_field_of_view,
    field_of_view,
    find_spine_box,
    place_box,
    region_cut_at_top,
    region_of_mask,
)
from SpineFractureLib.volume import CTVolume


def test_bone_window_maps_level_to_half_and_clips():
    hu = np.array([-2000.0, 400.0 - 900.0, 400.0, 400.0 + 900.0, 5000.0])
    np.testing.assert_allclose(bone_window(hu, 1800, 400), [0, 0, 0.5, 1, 1], atol=1e-6)
    with pytest.raises(ValueError):
        bone_window(hu, 0, 400)


def test_bone_likelihood_monotone_and_centred():
    p = bone_likelihood(np.array([-1000.0, 0.0, 200.0, 400.0, 1500.0]))
    assert np.all(np.diff(p) > 0)
    assert p[2] == pytest.approx(0.5, abs=1e-6)
    assert p[0] < 0.01 and p[-1] > 0.99


def test_edge_prior_peaks_at_the_boundary():
    window = np.zeros((9, 9, 20), np.float32)
    window[..., 10:] = 1.0
    edge = edge_prior(window)
    profile = edge[4, 4]
    assert profile.argmax() in (9, 10)
    assert profile[0] < 0.01 and profile[-1] < 0.01


def test_make_channels_shape_order_and_range():
    rng = np.random.default_rng(0)
    hu = rng.uniform(-1000, 2000, (7, 9, 11)).astype(np.float32)
    ch = make_channels(hu)
    assert ch.shape == (N_CHANNELS, 7, 9, 11) and ch.dtype == np.float32
    assert ch.min() >= 0 and ch.max() <= 1
    width, level = BONE_WINDOWS[1]
    np.testing.assert_allclose(ch[1], bone_window(hu, width, level))
    with pytest.raises(ValueError):
        make_channels(hu[0])


@pytest.mark.parametrize("seed", [3, 10, 19])
def test_spine_box_holds_every_present_level(seed):
    """Random clinical fields of view (pose, spacing, cut ends): the box keeps each level whole."""
    case = make_phantom(seed, PhantomConfig(streak_probability=0.0))
    box = find_spine_box(case.ct)
    assert box.column_found
    labels = crop_to_box(case.labels, box, is_label=True)
    assert labels.spacing == (1.0, 1.0, 1.0) and np.allclose(labels.direction, np.eye(3))
    voxel_ml = np.prod(case.ct.spacing)
    for value in range(1, 8):
        full = np.count_nonzero(case.labels.array == value) * voxel_ml
        if full:
            assert np.count_nonzero(labels.array == value) >= 0.97 * full, f"level C{value} cut"


def test_spine_box_on_real_head_and_neck_ct(shared_data):
    """The real CT shows the face, mandible and skull: the box must sit on the column behind them."""
    from SpineFractureLib.io import load_ct

    ct = load_ct(shared_data / "ct-head-neck-dicom", auto_hu_correction=True)
    box = find_spine_box(ct)
    crop = crop_to_box(ct, box)
    # The column lies in the posterior half of the head-and-neck field of view...
    full_y = ct.index_to_lps(np.array([[0, 0, 0], [0, ct.shape_xyz[1] - 1, 0]]))[:, 1]
    assert box.centre_lps[1] > full_y.mean()
    # ...and the crop holds a vertical run of bone down its middle (the vertebral bodies).
    mid = crop.array[:, :, crop.array.shape[2] // 2 - 10:crop.array.shape[2] // 2 + 10]
    bone_rows = (mid > 250).any(axis=(1, 2))
    assert bone_rows.sum() >= 60


def test_a_column_running_far_above_the_cervical_region_gets_the_box_moved_onto_it():
    """A head CT ending at C2: the bone column runs on up into the skull, 150 mm above C1."""
    box = SpineBox((0.0, 0.0, 104.0), (112.0, 128.0, 192.0), (0.0, 0.0, 184.0))
    region = ((-20.0, -20.0, 0.0), (20.0, 20.0, 34.0))
    assert column_runs_above(box, region) and 184.0 - 34.0 > MAX_TOP_GAP_MM
    assert not column_runs_above(box, ((-20.0, -20.0, 0.0), (20.0, 20.0, 160.0)))  # the dens tip above C1: agrees
    moved = box_around(region)
    assert moved.centre_lps[2] + moved.size_mm[2] / 2 == pytest.approx(34.0 + 16.0)
    assert not column_runs_above(SpineBox(moved.centre_lps, moved.size_mm, moved.column_top_lps), region)
    assert place_box(box, region) == moved
    assert place_box(box, None) is box  # no region known: the column's box stays
    near = ((-20.0, -20.0, 100.0), (20.0, 20.0, 160.0))
    assert place_box(box, near) is box  # inside the box, 24 mm below the column top
    far = ((60.0, -20.0, 100.0), (100.0, 20.0, 160.0))  # the box holds none of it
    assert place_box(box, far) == box_around(far)


def test_a_region_the_scans_top_edge_cuts_gets_the_box_of_a_whole_neck():
    """A chest CT whose top slices hold C6-C7 (z 160-200 mm): the box sits as if C1 were in view."""
    column = SpineBox((0.0, 0.0, 120.0), (112.0, 128.0, 192.0), (0.0, 0.0, 200.0))
    region = ((-20.0, -20.0, 160.0), (20.0, 20.0, 199.0))
    chest = (-200.0, 203.0)  # lowest and highest slice: the scan goes on far below the region
    assert region_cut_at_top(region, chest)
    placed = place_box(column, region, chest, junction_z_mm=160.0)
    assert placed.centre_lps[2] + placed.size_mm[2] / 2 == pytest.approx(160.0 + CERVICAL_HEIGHT_MM + TOP_MARGIN_MM)
    assert placed.centre_lps[:2] == pytest.approx((0.0, 0.0)) and placed.size_mm == column.size_mm
    # The box still holds the region, with the air above the scan at its top.
    assert placed.centre_lps[2] - placed.size_mm[2] / 2 < 160.0
    # The localizer's region often runs on into T1-T2: the junction, not the region's bottom, places the box.
    low = ((-20.0, -20.0, 128.0), (20.0, 20.0, 199.0))
    assert place_box(column, low, chest, junction_z_mm=160.0) == placed
    # Without a junction the lowest level in view need not be C7 (a neck cut at both ends): no rule.
    assert place_box(column, region, chest) is column
    # Without the scan's extent the rule is off; a region below the top edge keeps the old rules.
    assert place_box(column, region, junction_z_mm=160.0) is column
    assert not region_cut_at_top(((-20.0, -20.0, 100.0), (20.0, 20.0, 180.0)), chest)
    assert place_box(column, ((-20.0, -20.0, 100.0), (20.0, 20.0, 180.0)), chest, 100.0) is column
    # A scan that both edges cut through the region (a short neck scan) is left as it is.
    short = (158.0, 203.0)
    assert not region_cut_at_top(region, short)
    assert place_box(column, region, short, 160.0) is column
    # A neck whose top cuts C1 or C2 (C1's expected top less than MIN_RAISE_MM above the region's)
    # keeps the old rules: the column's box, which agrees with the region.
    for junction in (40.0, 199.0 - CERVICAL_HEIGHT_MM + MIN_RAISE_MM - 1.0):
        neck = ((-20.0, -20.0, junction), (20.0, 20.0, 199.0))
        assert place_box(column, neck, chest, junction_z_mm=junction) is column
    # Cut at C3: raised.
    c3 = 199.0 - CERVICAL_HEIGHT_MM + MIN_RAISE_MM + 1.0
    assert place_box(column, ((-20.0, -20.0, c3), (20.0, 20.0, 199.0)), chest, c3) != column


def test_region_of_a_mask_in_lps_mm():
    grid = CTVolume(np.zeros((10, 12, 14), np.uint8), spacing=(0.5, 1.0, 2.0), origin=(10.0, 20.0, 30.0))
    assert region_of_mask(grid) is None
    mask = grid.array.copy()
    mask[3:5, 2:4, 6:9] = 1  # z 3-4, y 2-3, x 6-8
    lo, hi = region_of_mask(grid.with_array(mask), pad_mm=1.0)
    np.testing.assert_allclose(lo, (10.0 + 6 * 0.5 - 1, 20.0 + 2 - 1, 30.0 + 3 * 2 - 1))
    np.testing.assert_allclose(hi, (10.0 + 8 * 0.5 + 1, 20.0 + 3 + 1, 30.0 + 4 * 2 + 1))


def test_no_column_in_a_thin_slab_or_in_air():
    case = make_phantom(5, PhantomConfig(size_xyz=(96, 96, 120), spacing=(1.5, 1.5, 1.5), pose=False))
    slab = case.ct.sub_volume((0, 0, 0), (8, 96, 96))  # 12 mm of the lowest vertebra: no 3 cm run
    assert not find_spine_box(slab).column_found
    air = case.ct.with_array(np.full(case.ct.array.shape, -1000.0, np.float32))
    assert not find_spine_box(air).column_found


def test_make_channels_without_priors_keeps_windows_and_zeroes_priors():
    hu = np.random.default_rng(1).uniform(-1000, 2000, (6, 7, 8)).astype(np.float32)
    with_priors, without = make_channels(hu), make_channels(hu, use_priors=False)
    np.testing.assert_array_equal(with_priors[:3], without[:3])
    assert not without[3:].any() and with_priors[3].any()


def _short_scan() -> CTVolume:
    """A 20-slice scan (z = 0..19 mm, HU = 10 * slice) inside a 40 mm box around it."""
    hu = np.repeat(np.arange(20, dtype=np.float32)[:, None, None] * 10.0, 16, 1).repeat(16, 2)
    return CTVolume(hu, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))


def test_field_of_view_marks_the_scanned_slab_of_a_larger_box():
    ct = _short_scan()
    crop = crop_to_box(ct, SpineBox((7.5, 7.5, 9.5), (16.0, 16.0, 40.0), (7.5, 7.5, 19.5)))
    fov = field_of_view(ct, crop)
    assert fov.shape == crop.array.shape == (40, 16, 16)
    inside_z = np.nonzero(fov.any(axis=(1, 2)))[0]
    assert (inside_z.min(), inside_z.max()) == (10, 29)  # box slices at z = -10..29 mm, scan 0..19 mm
    assert fov[10:30].all()
    assert np.all(crop.array[~fov] == -1024.0)


def test_extension_repeats_the_nearest_scanned_slice_and_keeps_the_inside():
    ct = _short_scan()
    crop = crop_to_box(ct, SpineBox((7.5, 7.5, 9.5), (16.0, 16.0, 40.0), (7.5, 7.5, 19.5)))
    fov = field_of_view(ct, crop)
    ext = extend_beyond_field_of_view(crop.array, fov)
    np.testing.assert_array_equal(ext[fov], crop.array[fov])
    np.testing.assert_allclose(ext[:10], 0.0)     # below the scan: its first slice (0 HU)
    np.testing.assert_allclose(ext[30:], 190.0)   # above: its last slice (190 HU)
    assert crop.array[0, 0, 0] == -1024.0         # the input is not changed


def test_extension_refuses_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="does not fit"):
        extend_beyond_field_of_view(np.zeros((4, 4, 4)), np.ones((4, 4, 5), bool))
