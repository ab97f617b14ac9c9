"""SegmentationDataset: what each stage's samples contain."""

import numpy as np
import pytest

from SpineFractureLib.data.case import LabelledCase
from SpineFractureLib.preprocess.channels import make_channels
from SpineFractureLib.preprocess.coarse import coarse_channels, coarse_hu, coarse_labels
from SpineFractureLib.preprocess.crop import CERVICAL_HEIGHT_MM, CROP_SIZE_MM, TOP_MARGIN_MM, SpineBox
from SpineFractureLib.train import seg_data
from SpineFractureLib.train.seg_data import (
    PREPARATION,
    PreparedCache,
    PreparedSample,
    SegmentationDataset,
    prepare_case,
    truth_junction_z_mm,
)
from SpineFractureLib.volume import CTVolume


@pytest.fixture
def sample():
    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 1500, size=(21, 18, 17)).astype(np.int16)
    labels = np.zeros(hu.shape, np.uint8)
    labels[2:8, 4:12, 3:9], labels[10:16, 4:12, 3:9] = 3, 4  # x-asymmetric, to see the flip
    return PreparedSample("case", hu, labels, None)


def test_levels_item_is_the_coarse_crop(sample):
    ds = SegmentationDataset([sample], augment=False, stage="levels")
    for _ in range(2):  # the second call comes from the per-case cache
        item = ds[0]
        np.testing.assert_allclose(item["image"].numpy(), coarse_channels(coarse_hu(sample.hu)), atol=1e-5)
        np.testing.assert_array_equal(item["label"][0].numpy(), coarse_labels(sample.labels))
    assert item["image"].shape == (6, 11, 9, 9) and not item["has_fracture"]


def test_levels_augmentation_flips_labels_with_the_image(sample):
    ds = SegmentationDataset([sample], augment=True, stage="levels", seed=0)
    flipped = plain = 0
    for epoch in range(12):
        ds.epoch = epoch
        item = ds[0]
        labels = item["label"][0].numpy()
        image_bone = item["image"][0].numpy()
        ref = coarse_labels(sample.labels)
        if np.array_equal(labels, ref):
            plain += 1
        else:
            np.testing.assert_array_equal(labels, ref[..., ::-1])
            flipped += 1
        assert image_bone.shape == labels.shape
    assert flipped and plain


def test_vertebra_item_is_a_binary_patch(sample):
    ds = SegmentationDataset([sample], patch_zyx=(8, 8, 8), augment=False, stage="vertebra")
    item = ds[0]
    assert item["image"].shape == (5, 8, 8, 8)
    assert set(np.unique(item["label"].numpy())) <= {0, 1}
    centre = tuple(slice((n - 8) // 2, (n - 8) // 2 + 8) for n in sample.hu.shape)
    np.testing.assert_allclose(item["image"].numpy(), make_channels(sample.hu[centre].astype(np.float32)), atol=1e-5)


def _column_case() -> LabelledCase:
    """A 2 mm CT whose labels C1-C3 lie at z 100-160 mm (LPS), on the x = y = 0 axis."""
    ct = CTVolume(np.full((150, 60, 60), -1000.0, np.float32), spacing=(2.0, 2.0, 2.0), origin=(-60.0, -60.0, 0.0))
    labels = np.zeros(ct.array.shape, np.uint8)
    for level, k in ((1, 75), (2, 65), (3, 55)):
        labels[k:k + 6, 27:33, 27:33] = level
    return LabelledCase("case", ct, ct.with_array(labels))


def test_crops_are_placed_on_the_truth_where_the_bone_column_box_misses_it(monkeypatch):
    case = _column_case()
    # The bone column ran on up into a skull: its top 150 mm above C1's.
    skull = SpineBox((0.0, 0.0, 216.0), CROP_SIZE_MM, (0.0, 0.0, 296.0))
    monkeypatch.setattr(seg_data, "find_spine_box", lambda ct: skull)
    sample = prepare_case(case)
    rows = np.nonzero(sample.labels.any(axis=(1, 2)))[0]
    # The truth's top (C1's upper face, z 162 mm) lies TOP_MARGIN_MM under the crop's top.
    assert sample.labels.shape[0] - 1 - rows.max() == pytest.approx(TOP_MARGIN_MM, abs=2)
    assert set(np.unique(sample.labels)) == {0, 1, 2, 3}
    # A column box that holds the truth and tops out near it is kept as it is.
    near = SpineBox((0.0, 0.0, 90.0), CROP_SIZE_MM, (0.0, 0.0, 170.0))
    monkeypatch.setattr(seg_data, "find_spine_box", lambda ct: near)
    rows = np.nonzero(prepare_case(case).labels.any(axis=(1, 2)))[0]
    assert 192 - 1 - rows.max() == pytest.approx(186 - 162, abs=2)


def test_a_chest_crop_whose_top_edge_cuts_the_truth_is_placed_as_a_whole_necks(monkeypatch):
    """C6-C7 in the top 42 mm of a 300 mm scan: the crop puts them where a neck's crop has them."""
    ct = CTVolume(np.full((150, 60, 60), -1000.0, np.float32), spacing=(2.0, 2.0, 2.0), origin=(-60.0, -60.0, 0.0))
    labels = np.zeros(ct.array.shape, np.uint8)
    labels[128:137, 27:33, 27:33], labels[140:150, 27:33, 27:33] = 7, 6  # z 256-272 and 280-298 mm
    labels[100:125, 27:33, 27:33] = 8  # T1-T2 below (z 200-248 mm): the truth shows the junction
    column = SpineBox((0.0, 0.0, 218.0), CROP_SIZE_MM, (0.0, 0.0, 298.0))  # the column's top at the scan's
    monkeypatch.setattr(seg_data, "find_spine_box", lambda c: column)
    chest = LabelledCase("chest", ct, ct.with_array(labels))
    # Read as the localizer reads it, on its 4 mm grid: between T1's top and C7's bottom.
    junction = truth_junction_z_mm(chest)
    assert 246.0 <= junction <= 258.0
    sample = prepare_case(chest)
    rows = np.nonzero(sample.labels.any(axis=(1, 2)))[0]
    # The crop's top lies CERVICAL_HEIGHT_MM + TOP_MARGIN_MM above the junction; C7's lowest voxel is z 256 mm.
    top_above_c7 = junction + CERVICAL_HEIGHT_MM + TOP_MARGIN_MM - 256.0
    assert sample.labels.shape[0] - 1 - rows.min() == pytest.approx(top_above_c7, abs=2)
    assert set(np.unique(sample.labels)) == {0, 6, 7}
    # T1's slices are kept for scan cuts through it: its top (z 248 mm) 8 mm under C7's lowest voxel.
    assert sample.t1_slices is not None
    assert rows.min() - sample.t1_slices[1] == pytest.approx(8, abs=2)
    assert sample.t1_slices[0] == 0  # the crop's lowest slice cuts the 50 mm stand-in for T1-T2
    # Labels that stop at C7 (no T1 below it) give no junction, and the column's box stays.
    no_t1 = LabelledCase("neck", ct, ct.with_array(np.where(labels == 8, 0, labels).astype(np.uint8)))
    assert truth_junction_z_mm(no_t1) is None
    no_t1_sample = prepare_case(no_t1)
    rows = np.nonzero(no_t1_sample.labels.any(axis=(1, 2)))[0]
    assert 192 - 1 - rows.max() == pytest.approx(314 - 298, abs=2)
    assert no_t1_sample.t1_slices is None


def test_the_cache_names_its_files_after_the_preparation(tmp_path):
    base = _column_case()
    labels = base.labels.array.copy()
    labels[45:51, 27:33, 27:33] = 8  # a T1 (z 90-100 mm), whose slices the cache keeps
    case = LabelledCase("case", base.ct, base.ct.with_array(labels))
    stale = tmp_path / "case.npz"  # a crop of an older preparation
    np.savez_compressed(stale, hu=np.zeros((2, 2, 2), np.int16), labels=np.zeros((2, 2, 2), np.uint8),
                        fracture=np.zeros(1, np.uint8), has_fracture=False)
    cache = PreparedCache([("case", lambda: case)], tmp_path)
    first = cache[0]
    assert first.hu.shape == (192, 128, 112)
    assert (tmp_path / f"case.{PREPARATION}.npz").is_file()
    again = cache[0]  # read from the file
    np.testing.assert_array_equal(again.labels, first.labels)
    assert again.t1_slices == first.t1_slices and first.t1_slices is not None
