"""The shipped segmentation weights still segment: a change that breaks them fails here.

One held-out phantom (seed 900003, never a training seed) at the default difficulty, through the
registered default model, on the CPU. The floor sits well under the model card's held-out mean
(Dice 0.932) so that it catches a broken model, not noise.
"""

from __future__ import annotations

import pytest

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.metrics.segmentation import level_agreement
from SpineFractureLib.pipeline.segment import Segmenter

DICE_FLOOR = 0.85


@pytest.fixture(scope="module")
def shipped_result():
    case = make_phantom(900003, PhantomConfig(size_xyz=(128, 128, 140)))
    result = Segmenter("default", "cpu").segment(case.ct)
    truth = case.labels.with_array(case.cervical_labels())
    return level_agreement(result.labels, truth)


def test_shipped_weights_reach_the_dice_floor(shipped_result):
    present = {lv: v for lv, v in shipped_result.items() if v["present"]}
    assert len(present) >= 5
    mean = sum(v["dice"] for v in present.values()) / len(present)
    assert mean >= DICE_FLOOR, {lv: round(v["dice"], 3) for lv, v in present.items()}


def test_shipped_weights_identify_every_present_level(shipped_result):
    missed = [lv for lv, v in shipped_result.items() if v["present"] and not v["identified"]]
    assert not missed
