"""The shipped localizer (trained on phantoms): the cervical spine found in a neck phantom, none in
a head-only or abdomen-only phantom, and the segmenter reporting nothing where it finds none.

Phantom seeds 990000+ are used by no training or choice; 1202002, 1271002 and 1717001 are
development chest phantoms (of the cervicothoracic-junction rule and of the chest box placement of
session 33), kept here as regression cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.models.localizer import Localizer
from SpineFractureLib.pipeline.segment import Segmenter


@pytest.fixture(scope="module")
def localizer():
    return Localizer("default")


def test_finds_the_cervical_spine_of_a_neck_phantom_and_its_box(localizer):
    case = make_phantom(990000, PhantomConfig(size_xyz=(112, 112, 128), spacing=(1.5, 1.5, 1.5), cut_probability=0.0))
    loc = localizer.locate(case.ct)
    assert loc.found and loc.cervical_ml > 30
    cervical = (case.labels.array >= 1) & (case.labels.array <= 7)
    kji = np.argwhere(cervical).mean(axis=0)
    centre = case.ct.index_to_lps(kji[::-1])
    lo, hi = np.asarray(loc.box_lps[0]), np.asarray(loc.box_lps[1])
    assert np.all(centre > lo) and np.all(centre < hi)
    assert np.all(hi - lo < [120, 120, 220])  # a box around the neck, not the whole scan


@pytest.mark.parametrize("kind", ["head", "abdomen"])
def test_reports_none_where_no_cervical_spine_is_in_view(localizer, kind):
    case = make_phantom(990010, PhantomConfig(fov=kind, spacing=(2.5, 2.5, 2.5)))
    assert not any(e["present"] for e in case.truth["levels"].values())
    loc = localizer.locate(case.ct)
    assert not loc.found, loc.cervical_ml


def test_the_segmenter_reports_nothing_on_an_abdomen(localizer):
    case = make_phantom(990020, PhantomConfig(fov="abdomen", spacing=(2.0, 2.0, 2.5), contrast="venous"))
    seg = Segmenter("default", "cpu").segment(case.ct)
    assert not seg.labels.array.any()
    assert seg.localization is not None and not seg.localization.found


def test_a_chest_ct_whose_top_holds_c7_gets_it_named_c7():
    """Until 0.6.0 the level network, seeing no skull, called this chest phantom's C7 "C1" or "C2"
    and the localizer's cervicothoracic junction just below it renamed it (`anchor_at_junction`).
    Since session 33 the box is placed as if the column ran on up to C1 (`place_box`), and the
    network names it C7 itself."""
    case = make_phantom(1202002, PhantomConfig(fov="chest", contrast="venous"))
    assert [lv for lv in LEVELS if case.truth["levels"][lv]["present"]] == ["C7"]
    seg = Segmenter("default", "cpu").segment(case.ct)
    assert seg.localization.junction_z_mm is not None
    labels, truth = seg.labels.array, case.labels.array
    assert set(np.unique(labels)) == {0, 7}
    assert np.mean(truth[labels == 7] == 7) > 0.9


@pytest.mark.parametrize("seed, contrast", [(1717001, "none"), (1271002, "venous")])
def test_a_chest_ct_whose_top_cuts_c6_gets_c6_and_c7_each_on_its_vertebra(seed, contrast):
    """Development chest phantoms with C6 cut by the scan's top edge. 0.5.0 found nothing in 1717001
    (its level network called C6-C7 "C2"-"C3" in a box whose top lay on C6) and named 1271002's C6
    "C5" once the box moved (session 33, before the level network was trained on such boxes)."""
    case = make_phantom(seed, PhantomConfig(fov="chest", contrast=contrast))
    assert [lv for lv in LEVELS if case.truth["levels"][lv]["present"]] == ["C6", "C7"]
    seg = Segmenter("default", "cpu").segment(case.ct)
    labels, truth = seg.labels.array, case.labels.array
    assert [LEVELS[v - 1] for v in np.unique(labels[labels > 0])] == ["C6", "C7"], seg.notes
    for value in (6, 7):
        assert np.mean(truth[labels == value] == value) > 0.8, LEVELS[value - 1]


def test_a_skull_wall_marked_cervical_in_a_head_ct_gets_no_level():
    """Head-only phantom 1290034: the network marks a 60 mm stretch of occipital skull wall on the
    midline "cervical", and the segmentation named it C2-C3 until the localizer asked for spine
    below it (`_spine_below`; localization card, session 31)."""
    case = make_phantom(1290034, PhantomConfig(fov="head", contrast="arterial"))
    assert not any(e["present"] for e in case.truth["levels"].values())
    seg = Segmenter("default", "cpu").segment(case.ct)
    assert not seg.localization.found
    assert not seg.labels.array.any()


def test_a_head_ct_that_ends_in_the_upper_neck_gets_its_levels_each_on_its_vertebra():
    """Validation phantom 1700000 (a head CT down to C4): the bone column runs on up into the skull,
    so the localizer places the crop (`place_box`), and its 34 mm column counts because the scan's
    lower edge cuts it. Until 0.5.0 these scans got at most C1-C2 (segmentation card, session 32)."""
    case = make_phantom(1700000, PhantomConfig(fov="head-upper-neck", contrast="none"))
    in_view = [lv for lv in LEVELS if case.truth["levels"][lv]["present"]]
    assert in_view == ["C1", "C2", "C3", "C4"]
    seg = Segmenter("default", "cpu").segment(case.ct)
    labels, truth = seg.labels.array, case.labels.array
    assert [LEVELS[v - 1] for v in np.unique(labels[labels > 0])] == in_view
    for value in range(1, 5):
        assert np.mean(truth[labels == value] == value) > 0.8, LEVELS[value - 1]
