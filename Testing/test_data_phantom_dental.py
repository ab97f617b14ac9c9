"""Teeth and metal dental work: drawn where the face is in view, never labelled, streaks only on
the slices that hold metal, and a neck phantom that keeps the bytes the shipped weights saw."""

import hashlib

import numpy as np
import pytest

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom.dental import Dentition, add_metal_streaks, sample_dentition

COARSE = dict(spacing=(2.0, 2.0, 2.0), noise_hu=0.0, streak_probability=0.0)


def _metal_seed():
    """A head-and-neck phantom seed whose patient has metal work."""
    for seed in range(20, 60):
        if make_phantom(seed, PhantomConfig(fov="head-neck", spacing=(6.0, 6.0, 6.0), noise_hu=0.0)).truth["metal_teeth"]:
            return seed
    raise AssertionError("no patient with metal in 40 seeds")


@pytest.fixture(scope="module")
def with_and_without():
    seed = _metal_seed()
    return (make_phantom(seed, PhantomConfig(fov="head-neck", **COARSE)),
            make_phantom(seed, PhantomConfig(fov="head-neck", teeth=False, **COARSE)))


def test_teeth_are_dense_unlabelled_and_leave_the_vertebrae_alone(with_and_without):
    teeth, plain = with_and_without
    assert teeth.truth["teeth"] and not plain.truth["teeth"] and teeth.truth["metal_teeth"] >= 1
    assert teeth.labels.array.tobytes() == plain.labels.array.tobytes()
    assert teeth.fracture.array.tobytes() == plain.fracture.array.tobytes()
    assert teeth.truth["levels"] == plain.truth["levels"]
    dense = teeth.ct.array > 2000  # enamel and metal: denser than any vertebra's cortex
    assert dense.sum() > 50 and not (plain.ct.array > 2000).any()
    assert not (teeth.labels.array[dense]).any()


def test_metal_streaks_stay_on_the_slices_of_the_metal(with_and_without):
    teeth, plain = with_and_without
    diff = np.abs(teeth.ct.array - plain.ct.array)
    changed = np.nonzero(diff.reshape(diff.shape[0], -1).max(axis=1) > 1.0)[0]
    c4 = np.argwhere(teeth.labels.array == 4).mean(axis=0)[0]
    dense = np.nonzero((teeth.ct.array > 2000).reshape(diff.shape[0], -1).any(axis=1))[0]
    assert changed.size and dense.min() - 8 <= changed.min() and changed.max() <= dense.max() + 8  # blur aside
    assert not (changed.min() <= c4 <= changed.max())  # the lower neck is untouched
    away = diff[dense.min():dense.max() + 1]
    assert (away > 100).mean() > 0.001  # the streaks reach beyond the teeth


def test_neck_phantoms_have_no_teeth_unless_asked_and_keep_their_bytes():
    case = make_phantom(7, PhantomConfig(size_xyz=(96, 96, 80), spacing=(1.2, 1.2, 1.5)))
    digest = hashlib.sha256(case.ct.array.tobytes() + case.labels.array.tobytes()
                            + case.fracture.array.tobytes()).hexdigest()[:16]
    assert not case.truth["teeth"]
    assert digest == "83cc439dbe615134"  # generator 1.0's bytes: the shipped weights were trained on them
    asked = make_phantom(7, PhantomConfig(size_xyz=(96, 96, 80), spacing=(1.2, 1.2, 1.5), teeth=True))
    assert asked.truth["teeth"] and asked.labels.array.tobytes() == case.labels.array.tobytes()


def test_dentition_is_drawn_per_seed_with_metal_on_kept_teeth():
    draws = [sample_dentition(np.random.default_rng(s)) for s in range(40)]
    assert draws[3] == sample_dentition(np.random.default_rng(3))
    assert any(d.metal for d in draws) and any(not d.metal for d in draws)
    assert all(not (d.metal & d.missing) and len(d.metal) <= 6 for d in draws)
    assert isinstance(draws[0], Dentition)


def test_add_metal_streaks_changes_only_metal_slices_and_fades():
    hu = np.zeros((5, 64, 64), np.float32)
    metal = np.zeros(hu.shape, bool)
    metal[2, 30:34, 30:34] = True
    add_metal_streaks(hu, np.random.default_rng(0), metal, (1.0, 1.0, 1.0), 500.0)
    assert not hu[[0, 1, 3, 4]].any()
    assert np.abs(hu[2]).max() > 100
    near = np.abs(hu[2, 24:40, 24:40]).mean()
    far = np.abs(np.concatenate([hu[2, :6].ravel(), hu[2, -6:].ravel()])).mean()
    assert near > far
