"""The shipped localizer (trained on phantoms): the cervical spine found in a neck phantom, none in
a head-only or abdomen-only phantom, and the segmenter reporting nothing where it finds none.

Phantom seeds 990000+ are used by no training or choice; 1202002 is a development phantom of the
cervicothoracic-junction rule (kept here as its regression case).
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
    assert any("the level network's C1 are C7" in note for note in seg.notes), seg.notes


def test_a_skull_wall_marked_cervical_in_a_head_ct_gets_no_level():
    """Head-only phantom 1290034: the network marks a 60 mm stretch of occipital skull wall on the
    midline "cervical", and the segmentation named it C2-C3 until the localizer asked for spine
    below it (`_spine_continues_below`; localization card, session 31)."""
    case = make_phantom(1290034, PhantomConfig(fov="head", contrast="arterial"))
    assert not any(e["present"] for e in case.truth["levels"].values())
    seg = Segmenter("default", "cpu").segment(case.ct)
    assert not seg.localization.found
    assert not seg.labels.array.any()
