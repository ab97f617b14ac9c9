"""Network input channels: three bone windows, a bone-likelihood prior and an edge prior.

Every model of the project sees the same five channels, in this order:
``window 1800/400``, ``window 2800/600``, ``window 4000/700``, ``bone likelihood``, ``edge``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: (width, level) HU of the three bone windows (the multi-window preprocessing of the seed papers).
BONE_WINDOWS: tuple[tuple[float, float], ...] = ((1800.0, 400.0), (2800.0, 600.0), (4000.0, 700.0))
#: Channel names, in network order.
CHANNEL_NAMES: tuple[str, ...] = ("window_1800_400", "window_2800_600", "window_4000_700",
                                  "bone_likelihood", "edge")
N_CHANNELS = len(CHANNEL_NAMES)
#: Centre and softness (HU) of the bone-likelihood sigmoid: cancellous bone starts near 150–200 HU.
BONE_HU_CENTRE, BONE_HU_SOFTNESS = 200.0, 60.0
#: Gradient magnitude (per mm, of the first window) that maps to an edge prior of ~0.76.
EDGE_SCALE_PER_MM = 0.08


def bone_window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map HU linearly to [0, 1] over ``level ± width / 2`` (clipped).

    Args:
        hu: HU values, any shape.
        width: window width in HU (> 0).
        level: window centre in HU.

    Returns:
        float32 array of the same shape in [0, 1].
    """
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    out = (np.asarray(hu, dtype=np.float32) - (level - width / 2.0)) / width
    return np.clip(out, 0.0, 1.0, out=out)


def bone_likelihood(hu: np.ndarray) -> np.ndarray:
    """A soft bone mask from HU: a sigmoid centred at 200 HU (float32 in [0, 1], same shape)."""
    z = (np.asarray(hu, dtype=np.float32) - BONE_HU_CENTRE) / BONE_HU_SOFTNESS
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # tanh form: no overflow


def edge_prior(window: np.ndarray, spacing_zyx: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Edge strength: gradient magnitude of a bone window, squashed to [0, 1).

    Args:
        window: a bone window (z, y, x) in [0, 1].
        spacing_zyx: voxel size (z, y, x) in mm, so that the gradient is per mm.

    Returns:
        float32 (z, y, x) in [0, 1): ``tanh(|grad| / EDGE_SCALE_PER_MM)``.
    """
    # Gaussian derivative (sigma 0.7 voxel): noise-robust gradient in one SciPy call.
    grad = ndimage.gaussian_gradient_magnitude(np.asarray(window, dtype=np.float32), sigma=0.7)
    grad /= float(np.mean(spacing_zyx))
    return np.tanh(grad / EDGE_SCALE_PER_MM).astype(np.float32)


def make_channels(hu: np.ndarray, spacing_zyx: tuple[float, float, float] = (1.0, 1.0, 1.0),
                  use_priors: bool = True) -> np.ndarray:
    """All five network channels of a CT in HU.

    Args:
        hu: HU array (z, y, x).
        spacing_zyx: voxel size (z, y, x) in mm.
        use_priors: False leaves the two prior channels at 0 (models trained without priors).

    Returns:
        float32 array (5, z, y, x), channels in the order of :data:`CHANNEL_NAMES`.
    """
    hu = np.asarray(hu, dtype=np.float32)
    if hu.ndim != 3:
        raise ValueError(f"expected a 3-D (z, y, x) HU array, got shape {hu.shape}")
    out = np.empty((N_CHANNELS, *hu.shape), dtype=np.float32)
    for i, (width, level) in enumerate(BONE_WINDOWS):
        out[i] = bone_window(hu, width, level)
    if use_priors:
        out[3] = bone_likelihood(hu)
        out[4] = edge_prior(out[0], spacing_zyx)
    else:
        out[3:] = 0.0
    return out


__all__ = ["BONE_WINDOWS", "CHANNEL_NAMES", "N_CHANNELS", "bone_likelihood", "bone_window", "edge_prior",
           "make_channels"]
