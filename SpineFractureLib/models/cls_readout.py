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
  drove the decision, the region head where in the vertebra the fracture-like evidence lies).
"""

from __future__ import annotations

import numpy as np
import torch

PATIENT_SOURCES = ("head", "max_level", "mean_head_max", "noisy_or")
HEATMAPS = ("gradcam", "gradcam_x_region")


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


__all__ = ["HEATMAPS", "PATIENT_SOURCES", "mirrored", "patient_probability", "patient_raw_logit", "readout_heat"]
