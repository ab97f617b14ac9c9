"""Anatomical checks on found levels: specks and levels off the column are dropped, a column is kept."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.models.level_checks import MIN_LEVEL_ML, check_levels


def column(shape=(160, 40, 40), step=18, first=150, levels=range(1, 8), half=(5, 8, 8)):
    """Blocks of 11×17×17 voxels (3.2 ml at 1 mm) stacked ``step`` voxels apart, C1 at the top (z up)."""
    labels = np.zeros(shape, np.uint8)
    for i, level in enumerate(levels):
        z = first - i * step
        labels[z - half[0]:z + half[0] + 1, 20 - half[1]:20 + half[1] + 1, 20 - half[2]:20 + half[2] + 1] = level
    return labels


def test_a_plausible_column_is_kept_whole():
    labels = column()
    checked = check_levels(labels)
    assert np.array_equal(checked.labels, labels)
    assert checked.dropped == {} and checked.warnings() == []


def test_specks_are_dropped_with_their_volume():
    labels = column(levels=range(1, 5))
    labels[20:24, 5:9, 5:9] = 7  # 0.064 ml
    checked = check_levels(labels)
    assert set(np.unique(checked.labels)) == {0, 1, 2, 3, 4}
    assert list(checked.dropped) == ["C7"] and "0.06 ml" in checked.dropped["C7"]
    assert checked.warnings() == [f"a C7 candidate was discarded: {checked.dropped['C7']}"]


def test_a_level_off_the_column_is_dropped():
    near = column(levels=range(1, 6))
    z5 = 150 - 4 * 18
    near[z5 - 16:z5 - 5, 2:19, 22:39] = 6  # centroid 10.5 mm below C5 and 2 mm aside: fits (8..32 mm)
    assert 6 in check_levels(near).labels
    far = column(levels=range(1, 6))
    far[2:13, 12:29, 12:29] = 6  # 71 mm below C5: one level cannot span that
    checked = check_levels(far)
    assert 6 not in checked.labels and "C6" in checked.dropped
    assert "71 mm from C5" in checked.dropped["C6"], checked.dropped


def test_the_largest_consistent_column_wins_over_a_stray_pair():
    labels = column(levels=range(3, 8), first=130)  # C3..C7 well spaced
    labels[136:147, 12:29, 12:29] = 1  # "C1" 11 mm above C3, where two levels need 16 mm at least
    checked = check_levels(labels)
    assert set(np.unique(checked.labels)) == {0, 3, 4, 5, 6, 7}
    assert list(checked.dropped) == ["C1"]


def test_volume_uses_the_voxel_size():
    labels = column(levels=[3])
    assert 3 in check_levels(labels, (1.0, 1.0, 1.0)).labels
    # The same 3179 voxels at 0.5 mm are 0.4 ml: a speck.
    small = check_levels(labels, (0.5, 0.5, 0.5))
    assert not small.labels.any() and float(small.dropped["C3"].split()[0]) < MIN_LEVEL_ML


def test_nothing_found_stays_nothing():
    checked = check_levels(np.zeros((10, 10, 10), np.uint8))
    assert not checked.labels.any() and checked.dropped == {}
