"""Segmentation metrics per level: Dice, centroids (LPS mm) and level identification."""

from __future__ import annotations

import numpy as np

from ..constants import LEVELS
from ..data.verse import voxel_centroids
from ..volume import CTVolume

#: A predicted level is identified when its centroid lies within this distance of the true one.
IDENTIFICATION_MM = 10.0


def dice_per_level(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    """Dice of each level 1..7 between two label maps on the same grid.

    Args:
        pred: predicted labels (z, y, x).
        truth: true labels (z, y, x), same shape.

    Returns:
        {"C1".."C7": Dice, or None where the level is absent from the truth}.
        A level missing from the prediction but present in the truth scores 0.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"shapes differ: {pred.shape} vs {truth.shape}")
    # Not MONAI's DiceMetric: that needs one-hot copies (8 × the volume) on the input grid.
    # One pass over the voxels: a joint histogram of (truth, pred) label pairs.
    k = len(LEVELS) + 1
    t = np.where(truth <= len(LEVELS), truth, 0).astype(np.int64)
    p = np.where(pred <= len(LEVELS), pred, 0).astype(np.int64)
    joint = np.bincount((t * k + p).ravel(), minlength=k * k).reshape(k, k)
    out: dict[str, float | None] = {}
    for v, name in enumerate(LEVELS, start=1):
        n_t, n_p, inter = joint[v].sum(), joint[:, v].sum(), joint[v, v]
        out[name] = None if n_t == 0 else float(2.0 * inter / (n_t + n_p))
    return out


def centroids_lps(labels: CTVolume) -> dict[str, np.ndarray]:
    """LPS centroid (mm) of each level present in a label volume (array (z, y, x))."""
    com = voxel_centroids(labels.array, decimals=6)  # (z, y, x) per label value
    return {LEVELS[v - 1]: labels.index_to_lps(np.asarray(c)[::-1]) for v, c in com.items()
            if 1 <= v <= len(LEVELS)}


def level_agreement(pred: CTVolume, truth: CTVolume) -> dict[str, dict[str, float | bool | None]]:
    """Per level: Dice, centroid error (mm) and whether the level was identified.

    Args:
        pred: predicted label volume on the truth's grid.
        truth: true label volume.

    Returns:
        {"C1".."C7": {"present", "reported", "dice", "centroid_error_mm", "identified"}}; for levels
        absent from the truth only ``present`` (False) and ``reported`` are meaningful.
    """
    dice = dice_per_level(pred.array, truth.array)
    c_pred, c_true = centroids_lps(pred), centroids_lps(truth)
    out = {}
    for lv in LEVELS:
        present = lv in c_true
        err = float(np.linalg.norm(c_pred[lv] - c_true[lv])) if present and lv in c_pred else None
        out[lv] = {"present": present, "reported": lv in c_pred, "dice": dice[lv],
                   "centroid_error_mm": err,
                   "identified": bool(err is not None and err <= IDENTIFICATION_MM) if present else None}
    return out


def fracture_kept_in_mask(predicted: np.ndarray, truth: np.ndarray, fracture: np.ndarray, value: int) -> float | None:
    """Share of a level's true fracture region that the predicted mask gives to that level.

    A segmentation that leaves a fracture's fragment or gap out of the level's mask (a displaced
    dens left as background, session 47) hides it from a classifier that reads the level's mask.

    Args:
        predicted: predicted level labels (z, y, x), 1..7 = C1..C7.
        truth: true level labels on the same grid.
        fracture: true fracture-region mask on the same grid (non-zero inside).
        value: the level's label.

    Returns:
        The share (0..1), or None where the level's true mask holds no fracture voxel.
    """
    region = (fracture > 0) & (truth == value)
    if not region.any():
        return None
    return float((predicted[region] == value).mean())


__all__ = ["IDENTIFICATION_MM", "centroids_lps", "dice_per_level", "fracture_kept_in_mask", "level_agreement"]
