"""The shipped localizer (trained on phantoms): the cervical spine found in a neck phantom, none in
a head-only or abdomen-only phantom, and the segmenter reporting nothing where it finds none.

Phantom seeds 990000+ are used by no training or choice; 1202002 is a development phantom of the
cervicothoracic-junction rule (kept here as its regression case).
"""

from __future__ import annotations

import re

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


def test_a_chest_ct_whose_top_holds_c7_gets_it_named_from_the_junction():
    """The level network, seeing no skull, called this chest phantom's C7 "C1"; the localizer's
    cervicothoracic junction just below it makes it C7 again (`anchor_at_junction`)."""
    case = make_phantom(1202002, PhantomConfig(fov="chest", contrast="venous"))
    assert [lv for lv in LEVELS if case.truth["levels"][lv]["present"]] == ["C7"]
    seg = Segmenter("default", "cpu").segment(case.ct)
    assert seg.localization.junction_z_mm is not None
    labels, truth = seg.labels.array, case.labels.array
    assert set(np.unique(labels)) == {0, 7}
    assert np.mean(truth[labels == 7] == 7) > 0.9
    # The network's own name for it ("C1" from 0.3.0's level network, "C2" from 0.5.0's) is wrong.
    assert any(re.search(r"the level network's C[1-5] are C7", note) for note in seg.notes), seg.notes


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


def test_a_chest_level_the_junction_cannot_name_is_not_named():
    """Chest phantom 1271002: the level network calls its C6 "C2" and misses C7; the junction 18 mm
    below lies between C6's and C7's heights, and the count from it named the C6 "C7" until
    `MAX_JUNCTION_RESIDUAL_STEPS` (session 32). A level named wrong is worse than none."""
    case = make_phantom(1271002, PhantomConfig(fov="chest", contrast="venous"))
    seg = Segmenter("default", "cpu").segment(case.ct)
    labels, truth = seg.labels.array, case.labels.array
    for value in np.unique(labels[labels > 0]):  # whatever is reported lies on its own level
        assert np.mean(truth[labels == value] == value) > 0.8, seg.notes
