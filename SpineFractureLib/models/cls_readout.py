"""How the classifier's logits become what a reader sees: level and patient probabilities, heat map.

The weights file's :class:`~SpineFractureLib.models.classifier_weights.Calibration` says which
readout was chosen on validation; these functions are the one place each readout is computed
(inference, calibration and the benchmark that makes the choice all call them).

- ``flip_average``: level and patient logits averaged with those of the left-right mirrored ROIs
  (training flips half of the cases, so the mirror is in distribution);
- patient source (:data:`PATIENT_SOURCES`): ``head`` (the patient head's logit), ``max_level``
  (the largest level logit), ``mean_head_max`` (the mean of the two), or ``noisy_or`` (the logit of
  1 − ∏(1 − p) over the calibrated level probabilities), each divided by the patient temperature.
  The noisy-OR needs a temperature of its own too: levels of one patient are not independent
  (fractures cluster), so the product overstates the patient's probability; weights files written
  before it was fitted carry 1.0, which reads them as before (to within the 1e-7 clip);
- heat map (:data:`HEATMAPS`): ``gradcam``, or ``gradcam_x_region``: Grad-CAM times the
  fracture-region head's probability, rescaled to a maximum of 1 per level (Grad-CAM says what
  drove the decision, the region head where in the vertebra the fracture-like evidence lies);
- cut levels (:data:`CUT_ENDS`): a level whose mask reaches the scan's lower (``bottom``) or upper
  (``top``) edge in the classifier's input (:func:`cut_ends`) gets that end's logit offset,
  fitted on validation cut levels (``benchmarks/cls_cut_bias.py``), before the level and patient
  probabilities are read. Why: a vertebra cut in half above air reads partly like a compressed one,
  and classifier 0.4.0 called 12 % of intact cut bottom levels fractured against about 2 % of whole
  ones (``benchmarks/cls_fov_cut.py``). Weights files without offsets leave cut levels as they are.
"""

from __future__ import annotations

import numpy as np
import torch

from ..constants import HU_AIR

PATIENT_SOURCES = ("head", "max_level", "mean_head_max", "noisy_or")
HEATMAPS = ("gradcam", "gradcam_x_region")
#: The ends of the classifier's input (z towards the head): ``bottom`` = slice 0, ``top`` = the last.
CUT_ENDS = ("bottom", "top")


def mirrored(rois: torch.Tensor) -> torch.Tensor:
    """ROIs (P, C, z, y, x) mirrored left-right (the x axis; every channel, masks included)."""
    return torch.flip(rois, dims=(-1,))


#: The noisy-OR probability is clipped this far from 0 and 1 before its logit is taken.
_NOISY_OR_EPS = 1e-7


def patient_raw_logit(source: str, level_logits: np.ndarray, patient_logit: float,
                      level_temperature: float = 1.0) -> float:
    """The patient logit of ``source`` before the patient temperature.

    Args:
        source: a member of :data:`PATIENT_SOURCES`.
        level_logits: (P,) logits of the present levels (P ≥ 1).
        patient_logit: the patient head's logit.
        level_temperature: divides the level logits (``noisy_or`` only: it combines the
            calibrated level probabilities).
    """
    if source == "noisy_or":
        probs = 1.0 / (1.0 + np.exp(-np.asarray(level_logits, float) / level_temperature))
        q = float(np.clip(1.0 - np.prod(1.0 - probs), _NOISY_OR_EPS, 1.0 - _NOISY_OR_EPS))
        return float(np.log(q / (1.0 - q)))
    top = float(np.max(level_logits))
    if source == "head":
        return float(patient_logit)
    if source == "max_level":
        return top
    if source == "mean_head_max":
        return (float(patient_logit) + top) / 2.0
    raise ValueError(f"patient source must be one of {PATIENT_SOURCES}, got {source!r}")


def patient_probability(source: str, level_logits: np.ndarray, patient_logit: float,
                        level_temperature: float, patient_temperature: float) -> float:
    """The calibrated patient probability.

    Args:
        source: a member of :data:`PATIENT_SOURCES`.
        level_logits: (P,) logits of the present levels (P ≥ 1).
        patient_logit: the patient head's logit.
        level_temperature, patient_temperature: from validation.
    """
    z = patient_raw_logit(source, level_logits, patient_logit, level_temperature)
    return float(1.0 / (1.0 + np.exp(-z / patient_temperature)))


def cut_ends(labels: np.ndarray, level_values: np.ndarray, hu: np.ndarray | None = None) -> list[tuple[str, ...]]:
    """Which ends of the scan (:data:`CUT_ENDS`) cut each level, as the classifier's input shows it.

    A level is cut at the ``bottom`` where one of its voxels lies on the input's first slice or
    right above a voxel outside the scan, at the ``top`` likewise. Outside the scan is what the
    crop is filled with there: exactly :data:`~SpineFractureLib.constants.HU_AIR` (a crop past a
    short or tilted field of view; scanned air is noisy and never lies against a vertebra).

    Args:
        labels: level labels (z, y, x), z towards the head, of the classifier's input.
        level_values: (P,) label values (1..7) of the levels classified.
        hu: the input's HU (z, y, x), or None (only the array's own ends count).

    Returns:
        Per level, the ends that cut it: (), ("bottom",), ("top",) or both.
    """
    below = np.zeros(labels.shape, bool)  # the voxel under this one is outside the scan
    above = np.zeros(labels.shape, bool)
    below[0] = above[-1] = True
    if hu is not None:
        outside = hu == HU_AIR
        below[1:] |= outside[:-1]
        above[:-1] |= outside[1:]
    edges = {"bottom": set(np.unique(labels[below]).tolist()), "top": set(np.unique(labels[above]).tolist())}
    return [tuple(end for end in CUT_ENDS if int(v) in edges[end]) for v in level_values]


def cut_level_offsets(labels: np.ndarray, level_values: np.ndarray, biases: dict[str, float],
                      hu: np.ndarray | None = None) -> np.ndarray:
    """Per level, the sum of the offsets (calibrated logit units) of the scan ends that cut it.

    Args:
        labels: level labels (z, y, x) of the classifier's input, z towards the head.
        level_values: (P,) label values (1..7) of the levels classified.
        biases: {end: offset} (a missing end: 0).
        hu: the input's HU on the same grid (see :func:`cut_ends`), or None.

    Returns:
        (P,) float offsets, added to each level's logit after the level temperature.
    """
    if not biases:
        return np.zeros(len(level_values))
    return np.array([sum(float(biases.get(end, 0.0)) for end in ends)
                     for ends in cut_ends(labels, level_values, hu)])


def readout_heat(kind: str, cam: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    """The per-level heat maps (P, z, y, x) in 0..1 of ``kind`` (a member of :data:`HEATMAPS`).

    Args:
        kind: ``gradcam`` or ``gradcam_x_region``.
        cam: Grad-CAM maps (P, z, y, x) in 0..1, each with a maximum of 1 (or all 0).
        region: the region head's probabilities on the same grids, or None (the classifier has no
            region head: ``gradcam_x_region`` falls back to Grad-CAM).
    """
    if kind not in HEATMAPS:
        raise ValueError(f"heat map must be one of {HEATMAPS}, got {kind!r}")
    if kind == "gradcam" or region is None:
        return cam
    heat = cam * region
    peak = heat.reshape(heat.shape[0], -1).max(axis=1)[:, None, None, None]
    return np.where(peak > 1e-12, heat / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


__all__ = ["CUT_ENDS", "HEATMAPS", "PATIENT_SOURCES", "cut_ends", "cut_level_offsets", "mirrored", "patient_probability", "patient_raw_logit", "readout_heat"]
