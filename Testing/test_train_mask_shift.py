"""Level-mask augmentation: a boundary between neighbouring levels moved, without moving a fracture."""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.data.cls_cases import ClsSample
from SpineFractureLib.train.classification import ClsTrainConfig
from SpineFractureLib.train.cls_dataset import ClassificationDataset
from SpineFractureLib.train.fov_cut import level_z_ranges
from SpineFractureLib.train.mask_shift import MIN_FRACTURE_KEPT, SHIFT_MM, draw_mask_shift, shift_boundary

# z towards the head; the levels touch, as where the vertebra mask grows the column into one piece
LEVEL_Z = {3: (80, 99), 4: (60, 79), 5: (40, 59)}


def _column(fracture_z: tuple[int, int] | None = (74, 79), with_truth: bool = True) -> ClsSample:
    """C3..C5 as 20-slice boxes of 300 HU in a 1 mm crop (z, y, x); C4 fractured at ``fracture_z``."""
    shape = (120, 60, 60)
    hu = np.full(shape, 40, np.int16)
    labels = np.zeros(shape, np.uint8)
    for v, (z0, z1) in LEVEL_Z.items():
        labels[z0:z1 + 1, 20:40, 20:40] = v
        hu[z0:z1 + 1, 20:40, 20:40] = 300
    truth = np.zeros(shape, np.uint8)
    fractured = np.array([-1, -1, 0, 0, 0, -1, -1], np.int8)
    if fracture_z is not None:
        truth[fracture_z[0]:fracture_z[1] + 1, 22:38, 20:40] = 1
        fractured[3] = 1
    return ClsSample("toy", hu, labels, None, np.zeros(shape, np.uint8), truth if with_truth else None,
                     fractured, {"levels": {}})


def test_the_boundary_moves_into_the_level_that_shrinks():
    labels = _column().predicted
    before = labels.copy()
    out = shift_boundary(labels, 3, 4, 4.0)
    np.testing.assert_array_equal(labels, before)  # the input is left alone
    assert level_z_ranges(out) == {3: (84, 99), 4: (60, 83), 5: (40, 59)}
    out = shift_boundary(labels, 4, 3, 4.0)  # the other way: C3 grows down into C4
    assert level_z_ranges(out) == {3: (76, 99), 4: (60, 75), 5: (40, 59)}
    assert (out > 0).sum() == (labels > 0).sum()  # voxels change names, none appear or vanish


def test_a_missing_level_leaves_the_mask_as_it_is():
    labels = _column().predicted
    np.testing.assert_array_equal(shift_boundary(labels, 3, 6, 5.0), labels)


def test_draws_never_take_a_fracture_out_of_its_level():
    s = _column(fracture_z=(74, 79))  # C4's fracture at its upper end, next to C3
    truth_in_c4 = int(((s.fracture_truth > 0) & (s.predicted == 4)).sum())
    rng = np.random.default_rng(5)
    made = refused = 0
    for _ in range(200):
        shifted = draw_mask_shift(s, rng)
        if shifted is None:
            refused += 1
            continue
        made += 1
        kept = int(((s.fracture_truth > 0) & (shifted.predicted == 4)).sum())
        assert kept >= MIN_FRACTURE_KEPT * truth_in_c4
        np.testing.assert_array_equal(shifted.fractured, s.fractured)
        moved = level_z_ranges(shifted.predicted)
        changed = sum(moved[v] != LEVEL_Z[v] for v in LEVEL_Z)
        assert changed == 2  # exactly one boundary moved
    assert made > 50 and refused > 10


def test_a_fractured_level_without_a_known_region_is_never_shrunk():
    s = _column(with_truth=False)
    rng = np.random.default_rng(1)
    for _ in range(100):
        shifted = draw_mask_shift(s, rng)
        if shifted is not None:
            assert (shifted.predicted == 4).sum() >= (s.predicted == 4).sum()


def test_moves_stay_within_their_range():
    s = _column(fracture_z=None)
    rng = np.random.default_rng(2)
    for _ in range(50):
        shifted = draw_mask_shift(s, rng)
        moved = np.count_nonzero(shifted.predicted != s.predicted) / (20 * 20)  # slices that changed name
        assert SHIFT_MM[0] - 1 <= moved <= SHIFT_MM[1] + 1


def test_the_dataset_shows_moved_boundaries_and_keeps_the_targets():
    plain = ClassificationDataset([_column()], augment=True, balanced=False, seed=4, region_targets=True)
    moving = ClassificationDataset([_column()], augment=True, balanced=False, seed=4, region_targets=True,
                                   mask_shifts=1.0)
    changed = 0
    for epoch in range(8):
        a, m = plain[(epoch, 0)], moving[(epoch, 0)]
        np.testing.assert_array_equal(m["targets"].numpy(), [0, 1, 0])
        if not np.array_equal(a["rois"][:, 5:8].numpy(), m["rois"][:, 5:8].numpy()):
            changed += 1
    assert changed >= 4


def test_probabilities_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match="mask_shifts"):
        ClassificationDataset([_column()], mask_shifts=1.5)
    with pytest.raises(ValueError, match="mask_shifts"):
        ClsTrainConfig(mask_shifts=-0.1).validate()
