"""Anatomical checks on found levels: specks and levels off the column are dropped, a column is kept."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.models.level_checks import (
    C7_ABOVE_JUNCTION_MM,
    MAX_JUNCTION_RESIDUAL_STEPS,
    MIN_LEVEL_ML,
    TYPICAL_STEP_MM,
    anchor_at_junction,
    check_levels,
    close_gaps_left_by_checks,
    drop_lone_level,
    name_cut_top_level_from_below,
)


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


def test_each_level_lies_below_the_one_above_it():
    # Two pieces of one vertebra named C1 and C2 (development chest phantom 1202005): 15 mm
    # apart side to side, 3 mm along z. The 3-D distance fits a level step; the column does not.
    labels = np.zeros((160, 40, 60), np.uint8)
    labels[140:151, 12:29, 0:11] = 1
    labels[137:148, 12:29, 12:29] = 2
    labels[119:130, 12:29, 12:29] = 3
    checked = check_levels(labels)
    assert set(np.unique(checked.labels)) == {0, 2, 3} and list(checked.dropped) == ["C1"]
    assert "(3 mm along the column)" in checked.dropped["C1"], checked.dropped
    # A level above the one that should lie above it: the order is the column's too.
    upside = column(levels=[3, 4, 5], first=130)
    upside[upside == 4] = 0
    upside[140:151, 12:29, 12:29] = 4  # "C4" 10 mm above C3
    assert 4 not in check_levels(upside).labels


def _bottom_edge_case(gap: int) -> np.ndarray:
    """C2-C6 blocks, C6 reaching the grid's bottom; its lowest 5 slices (1.4 ml) labelled C7, ``gap`` slices cleared above them."""
    labels = column(levels=range(2, 7), first=100)
    labels[labels == 6] = 0
    labels[0:31, 12:29, 12:29] = 6
    labels[0:5, 12:29, 12:29] = 7
    labels[5:5 + gap, 12:29, 12:29] = 0
    return labels


def test_a_small_end_level_carved_out_of_its_neighbours_bone_is_dropped():
    # Cut neck phantom 1240005: the bottom of C6's body at the scan's lower edge called "C7".
    checked = check_levels(_bottom_edge_case(gap=0))
    assert 7 not in checked.labels and list(checked.dropped) == ["C7"]
    assert "1.45 ml at the end of the column" in checked.dropped["C7"] and "on C6's bone" in checked.dropped["C7"]
    assert set(np.unique(checked.labels)) == {0, 2, 3, 4, 5, 6}
    # The same piece across a disc from C6 is a vertebra cut by the scan's edge: kept.
    assert 7 in check_levels(_bottom_edge_case(gap=3)).labels


def test_a_gap_left_by_a_dropped_level_is_closed_where_no_vertebra_fits():
    # Cut neck phantom 1262007: "C4" a piece of C3 1 mm below it (dropped), C4 called "C5".
    labels = column(levels=[2, 3], first=130)
    labels[85:96, 12:29, 12:29] = 5  # 22 mm below C3: one step (18 mm), where two need 36
    labels[111:115, 30:39, 12:29] = 4  # 0.6 ml beside C3's lower half: dropped as a speck
    checked = check_levels(labels)
    assert "C4" in checked.dropped
    closed = close_gaps_left_by_checks(checked.labels)
    assert set(np.unique(closed.labels)) == {0, 2, 3, 4} and closed.shift == -1
    assert closed.notes and "the level network's C5 is C4" in closed.notes[0]
    # Two steps below C3 there is room for C4: nothing changes.
    roomy = column(levels=[2, 3], first=130)
    roomy[71:82, 12:29, 12:29] = 5  # 36 mm below C3
    kept = close_gaps_left_by_checks(roomy)
    assert np.array_equal(kept.labels, roomy) and kept.notes == []


def test_volume_uses_the_voxel_size():
    labels = column(levels=[3])
    assert 3 in check_levels(labels, (1.0, 1.0, 1.0)).labels
    # The same 3179 voxels at 0.5 mm are 0.4 ml: a speck.
    small = check_levels(labels, (0.5, 0.5, 0.5))
    assert not small.labels.any() and float(small.dropped["C3"].split()[0]) < MIN_LEVEL_ML


def test_nothing_found_stays_nothing():
    checked = check_levels(np.zeros((10, 10, 10), np.uint8))
    assert not checked.labels.any() and checked.dropped == {}


def _one_level(value: int, z: slice, shape=(100, 40, 40)) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[z, 10:30, 10:30] = value
    return labels


def test_a_lone_level_with_room_for_a_neighbour_is_dropped():
    # "C2" alone in the middle of a tall scan: C1 above and C3 below would be in view.
    checked = drop_lone_level(_one_level(2, slice(40, 55)), (0.0, 0.0), 1.0)
    assert not checked.labels.any() and "C1 above" in checked.dropped["C2"] and "C3 below" in checked.dropped["C2"]
    # The scan beyond the grid counts too: C3 at the grid's top, the scan going on 40 mm above.
    assert drop_lone_level(_one_level(3, slice(85, 100)), (40.0, 0.0), 1.0).dropped


def test_a_lone_level_cut_by_the_scan_edge_is_kept():
    # A chest CT whose top edge holds only C7: no room above for C6, and C7 has no cervical neighbour below.
    top_c7 = _one_level(7, slice(85, 100))
    kept = drop_lone_level(top_c7, (0.0, 200.0), 1.0)
    assert kept.labels.any() and not kept.dropped
    # A head CT whose bottom edge holds C1: C2 below is out of the scan.
    assert not drop_lone_level(_one_level(1, slice(0, 15)), (150.0, 0.0), 1.0).dropped
    # A crop padded 60 mm past a short scan's bottom: the grid's empty slices are not scan.
    # (Held-out arterial neck phantom 975002, 96 mm at 3 mm: "room for C3 below (160 mm of scan)".)
    assert not drop_lone_level(_one_level(6, slice(62, 77)), (0.0, -55.0), 1.0).dropped
    assert drop_lone_level(_one_level(6, slice(62, 77)), (0.0, -30.0), 1.0).dropped
    # Two levels are never "alone".
    two = _one_level(4, slice(40, 55))
    two[58:72, 10:30, 10:30] = 3
    assert not drop_lone_level(two, (0.0, 0.0), 1.0).dropped


def test_levels_counted_from_the_top_of_a_chest_scan_are_renumbered_from_the_junction():
    # Three levels 18 mm apart, the lowest's centroid at z = -100 + 114 = 14 mm, named C1..C3 as
    # the level network named chest phantom 981001's C5..C7; the junction 6 mm below the lowest.
    labels = column(levels=range(1, 4), first=150)
    lowest_z = -100.0 + (150 - 2 * 18)
    out = anchor_at_junction(labels, -100.0, 1.0, lowest_z - 6.0)
    assert out.shift == 4 and len(out.notes) == 1 and "network's C1, C2, C3 are C5, C6, C7" in out.notes[0]
    assert np.array_equal(out.labels, np.where(labels > 0, labels + 4, 0))
    assert anchor_at_junction(labels, -100.0, 1.0, None).shift == 0


def test_a_right_numbering_is_kept_within_a_level_of_junction_error():
    labels = column(levels=range(1, 8), first=150)  # C7's centroid at z index 42
    for error_mm in (-16.0, 0.0, 16.0):
        out = anchor_at_junction(labels, 0.0, 1.0, 42.0 - C7_ABOVE_JUNCTION_MM + error_mm)
        assert out.shift == 0 and out.notes == [] and out.labels is labels
    # C6 and C7 missed: the junction lies two steps and C7's height below C5, which is right.
    upper = column(levels=range(1, 6), first=150)
    assert anchor_at_junction(upper, 0.0, 1.0, 42.0 - C7_ABOVE_JUNCTION_MM).shift == 0


def test_levels_below_the_junction_go_when_the_count_from_it_moves_them_past_c7():
    # "C1, C2, C3" 18 mm apart on C6, C7 and T1 (development chest phantom 1202005): the junction
    # lies between "C2" and "C3"; C2 is the lowest level above it, 9 mm: C7.
    labels = column(levels=range(1, 4), first=150)  # centroids at z 150, 132, 114
    out = anchor_at_junction(labels, 0.0, 1.0, 123.0)
    assert out.shift == 5 and set(np.unique(out.labels)) == {0, 6, 7}
    assert np.array_equal(out.labels == 7, labels == 2) and not out.labels[labels == 3].any()
    assert out.notes[1] == "the level network's C3 was discarded: it lies below the cervicothoracic junction"
    # Every level below the junction: nothing to count from, nothing changes.
    assert anchor_at_junction(labels, 0.0, 1.0, 160.0).labels is labels


def test_a_count_from_the_junction_that_falls_between_two_levels_names_none():
    # Chest phantom 1271002: its C6, called "C2" by the level network, lies 18 mm above the
    # junction: 0.47 steps above C7's height, and the count named it C7.
    labels = column(levels=[2], first=100)  # one level: the step is TYPICAL_STEP_MM
    junction = 100.0 - C7_ABOVE_JUNCTION_MM - (MAX_JUNCTION_RESIDUAL_STEPS + 0.07) * TYPICAL_STEP_MM
    out = anchor_at_junction(labels, 0.0, 1.0, junction)
    assert out.shift == 0 and not out.labels.any()
    assert out.notes == ["the level network's C2 was discarded: the cervicothoracic junction seen 18 mm below the "
                         "lowest says it is numbered wrong, but lies between two levels' heights"]
    # 0.37 steps above (chest phantom 1202007's right C7): named.
    out = anchor_at_junction(labels, 0.0, 1.0, 100.0 - C7_ABOVE_JUNCTION_MM - 0.37 * TYPICAL_STEP_MM)
    assert out.shift == 5 and np.array_equal(out.labels == 7, labels == 2)
    # Half-way between C6's and C7's heights, from the other side: rounded to C6, 0.45 steps below.
    out = anchor_at_junction(labels, 0.0, 1.0, 100.0 - C7_ABOVE_JUNCTION_MM - 0.55 * TYPICAL_STEP_MM)
    assert out.shift == 0 and not out.labels.any()
    # Right on C6's height: named C6.
    assert anchor_at_junction(labels, 0.0, 1.0, 100.0 - C7_ABOVE_JUNCTION_MM - TYPICAL_STEP_MM).shift == 4


def test_a_junction_that_would_number_the_levels_higher_changes_nothing(caplog):
    # Whole-body phantoms 1203003 and 1234003: the junction found one or two levels too low.
    labels = column(levels=range(5, 8), first=150)  # C5..C7, C7 at z index 114
    with caplog.at_level("INFO"):
        out = anchor_at_junction(labels, 0.0, 1.0, 114.0 - 10.0 - 2 * 18.0)  # C7 would be C5
    assert out.shift == 0 and out.labels is labels and out.notes == []
    assert "would number the levels 2 lower; kept" in caplog.text


def _cut_top_case(top_z, levels=(3, 4, 5)):
    labels = column(levels=levels, first=120)  # C3 at z 120, 18 mm steps
    labels[top_z - 5:top_z + 6, 12:29, 12:29] = 1
    return labels


def test_a_c1_cut_by_the_scan_top_one_step_above_c3_is_c2():
    # Arterial neck phantom 1235002: C2 called "C1" 21 mm above a right C3, the scan cut above it.
    labels = _cut_top_case(141)
    out = name_cut_top_level_from_below(labels, (-(159 - 146), 0.0), 1.0)  # the scan ends at slice 146
    assert out.shift == 1 and set(np.unique(out.labels)) == {0, 2, 3, 4, 5}
    assert out.notes == ["the level network's C1 is C2: the scan's top edge cuts it, and C3 lies 21 mm below it, "
                         "1 level step"]
    # The scan reaches 8 mm above it: the top is in view, and the top-anchored gap rule holds.
    assert name_cut_top_level_from_below(labels, (-(159 - 154), 0.0), 1.0).labels is labels
    # A true C1 with C2 missed lies two steps above C3 (31 mm): kept.
    far = _cut_top_case(151)
    assert name_cut_top_level_from_below(far, (-(159 - 156), 0.0), 1.0).labels is far
