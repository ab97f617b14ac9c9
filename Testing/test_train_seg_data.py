"""SegmentationDataset: what each stage's samples contain."""

import numpy as np
import pytest

from SpineFractureLib.preprocess.channels import make_channels
from SpineFractureLib.preprocess.coarse import coarse_channels, coarse_hu, coarse_labels
from SpineFractureLib.train.seg_data import PreparedSample, SegmentationDataset


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
