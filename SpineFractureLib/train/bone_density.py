"""Bone-density augmentation of classifier ROIs: the same vertebra as a denser or a more porotic spine shows it.

The phantoms' cancellous bone is drawn from 170–380 HU; real cervical cancellous bone spans from
under 100 HU (osteoporosis, the elderly patients who fracture most) to over 400 HU (young, dense
bone: the real head-and-neck series' level cores read 500–620 HU at its 3.2 mm voxels). Session 37
found that every classifier so far turns its verdict on the real series with density alone: bone
made 100 HU less dense gets C2 and C3 called fractured. This module changes a patient's bone
density without touching soft tissue, so that a classifier can be trained (``bone_density``) and
probed (``benchmarks/cls_real_series.py --probes``) over a range of densities.

Measured (session 38, classification card): a fine-tune with ``bone_density`` 0.5 did no better
than its control on porotic phantoms or the real series. A ramp on a finished scan also dims the
cortex, which porotic bone does not; phantoms drawn porotic by the generator
(``PhantomConfig.cancellous_hu``) are the better training data and the better test.

MONAI's intensity transforms (``RandShiftIntensity``, ``RandAdjustContrast``) act on the whole
ROI, soft tissue and air included; the change here is confined to bone by a HU ramp.
"""

from __future__ import annotations

import numpy as np

#: HU where the change starts (soft tissue and fat below it stay as they are) and where it is whole.
RAMP_HU = (100.0, 400.0)
#: Range (HU) a training patient's density change is drawn from. Above −300 HU the mapping stays
#: monotonic (a denser voxel stays denser); −200 takes a 250 HU core to 150 HU, +250 to 375 HU.
SHIFT_HU = (-200.0, 250.0)


def shift_bone_density(hu: np.ndarray, delta_hu: float) -> np.ndarray:
    """``hu`` with bone made ``delta_hu`` denser (negative: less dense).

    The change is 0 at and below ``RAMP_HU[0]``, the whole ``delta_hu`` from ``RAMP_HU[1]`` up and
    linear between, so cancellous bone moves by part of it and cortex by all of it.

    Args:
        hu: HU array of any shape and axis order.
        delta_hu: change (HU) of bone at and above ``RAMP_HU[1]``; must be above
            ``-(RAMP_HU[1] - RAMP_HU[0])`` so that the mapping stays monotonic.

    Returns:
        float32 array of ``hu``'s shape.
    """
    low, high = RAMP_HU
    if delta_hu <= -(high - low):
        raise ValueError(f"delta_hu must be above {-(high - low):g} HU (monotonic mapping), got {delta_hu}")
    hu = np.asarray(hu, np.float32)
    return (hu + np.float32(delta_hu) * np.clip((hu - low) / (high - low), 0.0, 1.0)).astype(np.float32)


def draw_bone_density_shift(rng: np.random.Generator) -> float:
    """A training patient's bone-density change (HU), uniform over ``SHIFT_HU``."""
    return float(rng.uniform(*SHIFT_HU))


__all__ = ["RAMP_HU", "SHIFT_HU", "draw_bone_density_shift", "shift_bone_density"]
