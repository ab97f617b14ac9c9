"""Post-processing: one component per level; levels reordered head to feet."""

from __future__ import annotations

import numpy as np

from SpineFractureLib.models.postprocess import (
    assign_levels,
    close_level_gaps,
    keep_largest_component,
    order_levels,
    postprocess_levels,
)


def _stack(order):
    labels = np.zeros((len(order) * 8 + 2, 5, 5), np.uint8)
    nz = labels.shape[0]
    for i, v in enumerate(order):
        top = nz - 2 - i * 8
        labels[top - 6:top] = v
    return labels


def test_keep_largest_component_drops_islands():
    labels = _stack((1, 2, 3))
    labels[0, 0, 0] = 2  # a stray C2 voxel far from C2
    out = keep_largest_component(labels)
    assert out[0, 0, 0] == 0
    assert np.count_nonzero(out == 2) == np.count_nonzero(labels == 2) - 1


def _with_fragment(gap: int) -> tuple[np.ndarray, np.ndarray]:
    """C2 (a 10-voxel cube) and a 3-voxel fragment ``gap`` background voxels above it, on a 1 mm grid."""
    labels = np.zeros((40, 14, 14), np.uint8)
    labels[5:15, 2:12, 2:12] = 2
    top = 15 + gap
    labels[top:top + 3, 6:9, 6:9] = 2
    return labels, labels > 0


def test_keep_largest_component_keeps_a_fragment_near_its_level():
    # A displaced dens or teardrop fragment: a piece of the vertebra mask wholly voted C2, 2 mm off.
    labels, vertebra = _with_fragment(gap=2)
    np.testing.assert_array_equal(keep_largest_component(labels, vertebra), labels)
    assert np.count_nonzero(keep_largest_component(labels) == 2) == 1000  # without the mask: largest only


def test_keep_largest_component_drops_a_far_piece_a_neighbours_body_and_a_sliver_of_a_shared_piece():
    far, vertebra = _with_fragment(gap=8)
    assert np.count_nonzero(keep_largest_component(far, vertebra) == 2) == 1000
    # A whole body next to the level (T1's voted C7 at a scan's edge) is no fragment: 40 % of it.
    body = np.zeros((40, 14, 14), np.uint8)
    body[5:15, 2:12, 2:12] = 7
    body[17:21, 2:12, 2:12] = 7
    assert np.count_nonzero(keep_largest_component(body, body > 0) == 7) == 1000
    # The "fragment" split voxel by voxel off a vertebra piece that C3 holds too: a sliver of C3.
    shared, vertebra = _with_fragment(gap=2)
    shared[18:21, 6:9, 6:9] = 3
    shared[17, 6:9, 6:9] = 2
    vertebra = shared > 0
    out = keep_largest_component(shared, vertebra)
    assert np.count_nonzero(out == 2) == 1000 and np.count_nonzero(out == 3) == 27


def test_order_levels_fixes_a_swap_and_keeps_a_correct_order():
    good = _stack((1, 2, 3, 4))
    np.testing.assert_array_equal(order_levels(good), good)
    swapped = _stack((1, 3, 2, 4))
    np.testing.assert_array_equal(order_levels(swapped), good)
    # a partial column keeps its level values, just ordered
    partial = _stack((5, 3, 4))
    np.testing.assert_array_equal(order_levels(partial), _stack((3, 4, 5)))


def test_postprocess_combines_both():
    labels = _stack((2, 1, 3))
    labels[1, 1, 1] = 1
    out = postprocess_levels(labels)
    np.testing.assert_array_equal(out, _stack((1, 2, 3)))


def _column(levels_and_tops):
    """6-slice vertebrae of the given levels with their top slice (z grows to the head)."""
    labels = np.zeros((100, 4, 4), np.uint8)
    for level, top in levels_and_tops:
        labels[top - 6:top] = level
    return labels


def test_close_level_gaps_renumbers_levels_below_a_gap_no_vertebra_fits_in():
    # C4 and "C6" 10 slices apart like their neighbours: it is C5, and "C7" below it is C6.
    found = _column([(1, 90), (2, 80), (3, 70), (4, 60), (6, 50), (7, 40)])
    expected = _column([(1, 90), (2, 80), (3, 70), (4, 60), (5, 50), (6, 40)])
    np.testing.assert_array_equal(close_level_gaps(found), expected)
    np.testing.assert_array_equal(postprocess_levels(found), expected)


def test_close_level_gaps_keeps_a_gap_wide_enough_for_the_missing_level():
    missed_c4 = _column([(1, 90), (2, 80), (3, 70), (5, 50), (6, 40)])
    np.testing.assert_array_equal(close_level_gaps(missed_c4), missed_c4)
    two_levels = _column([(2, 80), (5, 70)])  # no neighbour distance to compare with
    np.testing.assert_array_equal(close_level_gaps(two_levels), two_levels)


def _probs(shape, level_of_z):
    """Level probabilities (8, z, y, x): 0.7 on level_of_z(z), the rest spread evenly."""
    p = np.full((8, *shape), 0.3 / 7, np.float32)
    for z in range(shape[0]):
        p[:, z] = 0.3 / 7
        p[level_of_z(z), z] = 0.7
    return p


def test_assign_levels_votes_per_vertebra_piece():
    """Coarse levels switch mid-vertebra; each piece still gets one level, the one most voted."""
    vertebra = np.zeros((40, 4, 4), bool)
    vertebra[2:18] = vertebra[20:28] = True  # two pieces separated by a 2-slice disc
    vertebra[32:36] = True  # a piece the level network calls background (e.g. the skull base)
    probs = _probs(vertebra.shape, lambda z: 0 if z >= 30 else (2 if z >= 17 else 3))
    out = assign_levels(vertebra, probs)
    assert (out[2:18] == 3).all() and (out[20:28] == 2).all()  # slice 17 voted 2, the piece says 3
    assert not out[32:36].any() and not out[~vertebra].any()


def test_assign_levels_splits_two_vertebrae_grown_together():
    vertebra = np.zeros((20, 4, 4), bool)
    vertebra[2:18] = True  # one piece: a small C1 (a third) grown onto C2
    out = assign_levels(vertebra, _probs(vertebra.shape, lambda z: 1 if z >= 13 else 2))
    assert (out[13:18] == 1).all() and (out[2:13] == 2).all()


def test_assign_levels_splits_only_among_the_levels_in_the_piece():
    """A level with a few stray voxels inside a two-level piece gets none of it."""
    vertebra = np.zeros((24, 4, 4), bool)
    vertebra[2:22] = True
    out = assign_levels(vertebra, _probs(vertebra.shape, lambda z: 7 if z == 12 else (4 if z >= 12 else 5)))
    assert set(np.unique(out[vertebra])) == {4, 5}


def test_assign_levels_keeps_a_whole_vertebra_with_a_small_share_of_a_long_piece():
    """Five vertebrae grown into one piece (the real head-and-neck CT): C5 holds 1.6 ml, under 10 % of the
    votes, under the 10 % share, yet is a whole vertebra; it is split off, not shared by C4 and C6."""
    vertebra = np.zeros((60, 20, 20), bool)
    vertebra[0:58] = True
    bands = [(6, 0), (5, 14), (4, 18), (3, 32), (2, 46)]  # (level, lowest slice), 400 voxels a slice
    out = assign_levels(vertebra, _probs(vertebra.shape, lambda z: next(lv for lv, lo in reversed(bands) if z >= lo)))
    assert (out[14:18] == 5).all() and (out[0:14] == 6).all() and (out[18:32] == 4).all()


def test_assign_levels_keeps_a_faint_level_out_of_a_long_piece():
    """C7 at 0.6 in a 300-voxel pocket of the same piece, and faint everywhere else: its summed
    votes pass 1 ml (5 % share) but it wins under 1 ml, so it takes nothing (a "C7" there would
    reorder the whole column before the level checks could drop it)."""
    vertebra = np.zeros((60, 20, 20), bool)
    vertebra[0:58] = True
    bands = [(6, 0), (5, 14), (4, 18), (3, 32), (2, 46)]
    probs = _probs(vertebra.shape, lambda z: next(lv for lv, lo in reversed(bands) if z >= lo))
    probs[:, 20:23, 5:15, 5:15] = 0.0
    probs[7, 20:23, 5:15, 5:15], probs[4, 20:23, 5:15, 5:15] = 0.6, 0.4
    assert probs[7][vertebra].sum() > 1000
    out = assign_levels(vertebra, probs)
    assert not (out == 7).any() and (out[20:23] == 4).all()


def _background_and_c7(shape, c7_from):
    """P(background) 0.9 / P(C7) 0.1 below slice c7_from, 0.2 / 0.8 from it up."""
    p = np.zeros((8, *shape), np.float32)
    p[0], p[7] = 0.9, 0.1
    p[0, c7_from:], p[7, c7_from:] = 0.2, 0.8
    return p


def test_assign_levels_keeps_a_level_grown_onto_a_background_piece():
    """C7 (a third) grown onto a thoracic vertebra: the piece votes background, C7 is kept."""
    vertebra = np.zeros((32, 4, 4), bool)
    vertebra[2:32] = True
    out = assign_levels(vertebra, _background_and_c7(vertebra.shape, 22))
    assert (out[22:32] == 7).all() and not out[:22].any()
    # with no level holding a fifth of the votes (C7 has 17 %), the piece is dropped whole
    assert not assign_levels(vertebra, _background_and_c7(vertebra.shape, 29)).any()


def _column_on_background(slices):
    """A piece of `slices` 100-voxel slices: C3-C7 (6 slices each, 0.9) at the top, background below."""
    vertebra = np.ones((slices, 10, 10), bool)
    probs = np.zeros((8, *vertebra.shape), np.float32)
    probs[0] = 1.0
    for i, level in enumerate(range(3, 8)):
        z0 = slices - 1 - 6 * (i + 1)
        probs[:, z0:z0 + 6] = 0.0
        probs[level, z0:z0 + 6], probs[0, z0:z0 + 6] = 0.9, 0.1
    votes = probs[:, vertebra].sum(axis=1)
    assert votes[0] > votes[1:].sum() and (votes[1:] < 0.2 * votes.sum()).all()
    return vertebra, probs, votes[1:].sum() / votes.sum()


def test_assign_levels_keeps_a_column_grown_onto_a_background_piece():
    """C3-C7 grown onto T1 and below (a porotic neck, session 42): each level holds under a fifth of
    the piece's votes, all five together 45 %; every one is kept, and the thoracic part stays
    background. Spread thinner (25 %, as over the thoracic spine of the real chest CT), none is."""
    vertebra, probs, share = _column_on_background(60)
    assert share > 0.4
    out = assign_levels(vertebra, probs)
    for i, level in enumerate(range(3, 8)):
        z0 = 59 - 6 * (i + 1)
        assert (out[z0:z0 + 6] == level).all()
    assert not out[:29].any()
    vertebra, probs, share = _column_on_background(110)
    assert share < 0.3
    assert not assign_levels(vertebra, probs).any()


def test_assign_levels_gives_back_what_the_level_network_is_sure_is_background():
    """C7 and T1 in one piece with the column: the vote would give T1 to C7; the level network is
    sure T1 is background, and it stays background."""
    vertebra = np.zeros((40, 6, 6), bool)
    vertebra[0:38] = True
    probs = _probs(vertebra.shape, lambda z: 6 if z >= 24 else 7)
    probs[:, 0:10] = 0.0
    probs[0, 0:10] = 1.0  # T1: background to the level network
    probs[7, 0:10] = 1e-5
    out = assign_levels(vertebra, probs)
    assert not out[0:10].any() and (out[10:24] == 7).all() and (out[24:38] == 6).all()
