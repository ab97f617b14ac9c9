"""Per-level ROIs: fixed physical boxes, channels, levels cut off by the field of view."""

import numpy as np
import pytest

from SpineFractureLib.preprocess.roi import (
    N_ROI_CHANNELS,
    ROI_ZYX,
    cut_box,
    extract_rois,
    paste_box_max,
)


def _column(levels=range(1, 8), shape=(160, 70, 70)):
    """Seven 12-voxel-tall blocks stacked along z, C1 at the top (z towards the head)."""
    hu = np.full(shape, -100.0, np.float32)
    labels = np.zeros(shape, np.uint8)
    for v in levels:
        z1 = shape[0] - 10 - (v - 1) * 20
        labels[z1 - 12:z1, 25:45, 25:45] = v
        hu[z1 - 12:z1, 25:45, 25:45] = 300.0
    return hu, labels


@pytest.mark.parametrize("levels", [range(1, 8), range(3, 8), range(1, 6), [4]])
def test_one_roi_per_present_level_head_first(levels):
    hu, labels = _column(levels)
    rois = extract_rois(hu, labels, np.zeros_like(hu))
    assert rois.channels.shape == (len(levels), N_ROI_CHANNELS, *ROI_ZYX)
    assert list(rois.levels) == [v - 1 for v in levels]
    assert rois.present.sum() == len(levels) and all(rois.present[v - 1] for v in levels)
    for k, v in enumerate(levels):
        own, above, below = rois.channels[k, 5], rois.channels[k, 6], rois.channels[k, 7]
        assert own.sum() == 12 * 20 * 20  # the whole level fits in its 48 x 64 x 64 mm box
        # The box is centred on the level: its mask's centre sits at the box centre (±1 voxel).
        centre = np.argwhere(own > 0).mean(axis=0)
        np.testing.assert_allclose(centre, (np.array(ROI_ZYX) - 1) / 2, atol=1.0)
        assert (above.sum() > 0) == (v - 1 in levels)  # C1 has no level above, even in background
        assert (below.sum() > 0) == (v + 1 in levels)
        if above.any():  # the level above lies towards the head: higher z in the box
            assert np.argwhere(above > 0)[:, 0].mean() > centre[0]


def test_no_level_gives_no_roi():
    hu, labels = _column([])
    rois = extract_rois(hu, labels)
    assert rois.channels.shape == (0, N_ROI_CHANNELS, *ROI_ZYX) and not rois.present.any()


def test_box_leaving_the_crop_is_padded_with_air_and_fracture_map_is_carried():
    hu, labels = _column([1])  # C1 sits 10 voxels under the top: its box reaches past the crop
    frac = (labels == 1).astype(np.float32) * 0.75
    rois = extract_rois(hu, labels, frac)
    window = rois.channels[0, 0]
    assert window[-1].max() == 0.0  # -1024 HU is 0 in every bone window
    assert rois.channels[0, 8].max() == pytest.approx(0.75)


def test_fracture_map_is_read_only_inside_the_levels_masks():
    """A rim of fracture map past the masks (the segmentation's two outputs disagreeing on a
    surface) is not fed to the classifier; inside any level's mask, the level's own or a
    neighbour's, the map is carried as it is."""
    hu, labels = _column([3, 4])
    frac = np.full(hu.shape, 0.4, np.float32)
    rois = extract_rois(hu, labels, frac)
    masks = rois.channels[0, 5:8].sum(axis=0) > 0
    fracture = rois.channels[0, 8]
    assert masks.any() and (~masks).any()
    np.testing.assert_allclose(fracture[masks], 0.4)
    assert fracture[~masks].max() == 0.0


def test_shape_mismatch_is_refused():
    hu, labels = _column()
    with pytest.raises(ValueError, match="one grid"):
        extract_rois(hu, labels[:-1])


def test_cut_and_paste_are_inverse_inside_the_array():
    rng = np.random.default_rng(0)
    a = rng.random((20, 20, 20)).astype(np.float32)
    start = np.array([-3, 5, 15])
    box = cut_box(a, start, (8, 8, 8), -1.0)
    assert box[0, 0, 0] == -1.0 and box[3, 0, 0] == a[0, 5, 15]
    out = np.zeros_like(a)
    paste_box_max(out, box, start)
    np.testing.assert_array_equal(out[0:5, 5:13, 15:20], a[0:5, 5:13, 15:20])
    assert out.sum() == pytest.approx(a[0:5, 5:13, 15:20].sum())
