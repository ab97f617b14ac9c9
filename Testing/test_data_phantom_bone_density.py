"""The phantom's cancellous-bone range: porotic or dense spines, bone changed and nothing else."""

import copy

import numpy as np
import pytest

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom_loaders import config_tag

SMALL = dict(size_xyz=(96, 96, 120), spacing=(0.8, 0.8, 0.8), noise_hu=0, streak_probability=0.0,
             fracture_rate=0.0, pose=False, psf_fwhm_mm=0.0)


def _without_cancellous(truth: dict) -> dict:
    out = copy.deepcopy(truth)
    for level in out["levels"].values():
        level.pop("cancellous_hu", None)
    return out


def test_a_denser_range_changes_bone_only_and_its_truth_says_so():
    usual = make_phantom(5, PhantomConfig(**SMALL))
    dense = make_phantom(5, PhantomConfig(**SMALL, cancellous_hu=(450.0, 550.0)))
    assert np.array_equal(usual.labels.array, dense.labels.array)
    assert _without_cancellous(usual.truth) == _without_cancellous(dense.truth)  # fractures, shapes: the same
    drawn = [lv["cancellous_hu"] for lv in dense.truth["levels"].values() if lv.get("cancellous_hu") is not None]
    assert drawn and all(450.0 - 50 <= hu <= 550.0 + 50 for hu in drawn)  # the range, with the level jitter
    changed = np.abs(usual.ct.array - dense.ct.array) > 2.0  # below that: the residual blur's tails
    assert changed.any()
    assert np.all(usual.ct.array[changed] > 100.0)  # bone only: never air, fat or soft tissue
    body = usual.labels.array == 4
    assert dense.ct.array[body].mean() > usual.ct.array[body].mean() + 100.0


def test_the_default_range_keeps_its_bytes_and_cache_tag_and_another_gets_its_own():
    assert config_tag(PhantomConfig()) == config_tag(PhantomConfig(cancellous_hu=[170, 380])) == "e623abc9"
    assert config_tag(PhantomConfig(cancellous_hu=(80.0, 200.0))) != "e623abc9"
    a = make_phantom(5, PhantomConfig(**SMALL))
    b = make_phantom(5, PhantomConfig(**SMALL, cancellous_hu=[170, 380]))
    assert np.array_equal(a.ct.array, b.ct.array)


@pytest.mark.parametrize("bad", [(300.0, 200.0), (-10.0, 100.0), (200.0, 950.0), (100.0, 200.0, 300.0)])
def test_a_range_that_is_not_cancellous_bone_is_refused(bad):
    with pytest.raises(ValueError, match="cancellous_hu"):
        PhantomConfig(cancellous_hu=bad)
