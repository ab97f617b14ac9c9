"""Post-processing of C1..C7 label maps: one connected component per level, levels in order."""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)
N_LEVELS = 7


def keep_largest_component(labels: np.ndarray) -> np.ndarray:
    """Keep only the largest 26-connected component of each level 1..7.

    Args:
        labels: uint8 label map (z, y, x).

    Returns:
        A new uint8 label map; stray pieces set to 0.
    """
    out = np.zeros_like(labels, dtype=np.uint8)
    structure = np.ones((3, 3, 3), bool)
    for value in range(1, N_LEVELS + 1):
        mask = labels == value
        if not mask.any():
            continue
        comp, n = ndimage.label(mask, structure=structure)
        if n > 1:
            sizes = np.bincount(comp.ravel())[1:]
            mask = comp == (int(np.argmax(sizes)) + 1)
        out[mask] = value
    return out


def order_levels(labels: np.ndarray, superior_axis_sign: int = 1) -> np.ndarray:
    """Relabel levels so that C1..C7 go from head to feet.

    The set of level values is kept; only their assignment changes when two centroids are out of
    order (e.g. C3 predicted above C2).

    Args:
        labels: uint8 label map (z, y, x).
        superior_axis_sign: +1 if the z index grows towards the head (an LPS-oriented array),
            -1 if it grows towards the feet.

    Returns:
        The relabelled map (a copy).
    """
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    if len(values) < 2:
        return labels.copy()
    heights = ndimage.center_of_mass(np.ones_like(labels), labels, values)
    z = np.array([h[0] for h in heights]) * superior_axis_sign
    by_height = [values[i] for i in np.argsort(-z)]  # head first
    if by_height == values:
        return labels.copy()
    lut = np.arange(256, dtype=np.uint8)
    for old, new in zip(by_height, values):
        lut[old] = new
    log.info("levels reordered head to feet: %s -> %s", by_height, values)
    return lut[labels]


def postprocess_levels(labels: np.ndarray) -> np.ndarray:
    """:func:`keep_largest_component` then :func:`order_levels` (z towards the head)."""
    return order_levels(keep_largest_component(labels))


__all__ = ["keep_largest_component", "order_levels", "postprocess_levels"]
