"""The coarse (2 mm) view of a 1 mm spine crop, where the level network sees the whole column.

Level identity (is this C3 or C4?) needs the whole crop in view: the skull base, the dens, the first
rib. At 1 mm that costs 3–5 s per training step on a laptop CPU; at 2 mm the whole crop costs 0.4 s,
so the level network works here and the 1 mm network only decides vertebra against background.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import HU_AIR
from .channels import N_CHANNELS, make_channels

#: Down-sampling factor from the 1 mm crop to the coarse grid.
COARSE_FACTOR = 2
#: Coarse input channels: the five image channels and the head-to-feet position in the crop.
N_COARSE_CHANNELS = N_CHANNELS + 1


def _even(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-(-n // COARSE_FACTOR) * COARSE_FACTOR for n in shape)


def _pad_even(a: np.ndarray, value: float) -> np.ndarray:
    pad = [(0, e - n) for n, e in zip(a.shape, _even(a.shape))]
    return np.pad(a, pad, constant_values=value) if any(p for _, p in pad) else a


def coarse_hu(hu: np.ndarray) -> np.ndarray:
    """Mean of each 2×2×2 block of a 1 mm HU crop (odd sizes padded with air).

    Args:
        hu: HU (z, y, x) at 1 mm.

    Returns:
        float32 HU (ceil(z/2), ceil(y/2), ceil(x/2)) at 2 mm.
    """
    a = _pad_even(np.asarray(hu, dtype=np.float32), HU_AIR)
    z, y, x = (n // COARSE_FACTOR for n in a.shape)
    f = COARSE_FACTOR
    return a.reshape(z, f, y, f, x, f).mean(axis=(1, 3, 5), dtype=np.float32)


def coarse_labels(labels: np.ndarray, n_classes: int = 8) -> np.ndarray:
    """The most frequent label of each 2×2×2 block (ties to the lower label).

    Args:
        labels: integer labels (z, y, x) in ``[0, n_classes)`` at 1 mm.

    Returns:
        uint8 labels at 2 mm, the grid of :func:`coarse_hu`.
    """
    a = torch.from_numpy(np.ascontiguousarray(_pad_even(np.asarray(labels, dtype=np.int64), 0)))
    onehot = F.one_hot(a, n_classes).permute(3, 0, 1, 2).float()[None]
    return F.avg_pool3d(onehot, COARSE_FACTOR)[0].argmax(0).numpy().astype(np.uint8)


def position_channel(shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """Head-to-feet position in the crop: -1 at the lowest slice, +1 at the top (float32 (z, y, x)).

    The crop's top is anchored just above the detected top of the column, so this tells the level
    network roughly where in the neck a voxel lies; the image decides the rest.
    """
    z = np.linspace(-1.0, 1.0, shape_zyx[0], dtype=np.float32)
    return np.broadcast_to(z[:, None, None], shape_zyx).copy()


def coarse_channels(hu_coarse: np.ndarray, use_priors: bool = True) -> np.ndarray:
    """Network input of the level network.

    Args:
        hu_coarse: HU (z, y, x) at 2 mm (from :func:`coarse_hu`).
        use_priors: as in :func:`make_channels`.

    Returns:
        float32 (6, z, y, x): the five image channels, then :func:`position_channel`.
    """
    spacing = (float(COARSE_FACTOR),) * 3
    image = make_channels(hu_coarse, spacing, use_priors=use_priors)
    return np.concatenate([image, position_channel(hu_coarse.shape)[None]])


def upsample_probabilities(probs: torch.Tensor, shape_zyx: tuple[int, int, int]) -> torch.Tensor:
    """Trilinear up-sampling of coarse class probabilities back onto the 1 mm crop.

    Args:
        probs: (classes, z, y, x) on the coarse grid.
        shape_zyx: the 1 mm crop's shape.

    Returns:
        (classes, *shape_zyx), renormalised to sum to 1 per voxel.
    """
    even = _even(tuple(shape_zyx))
    up = F.interpolate(probs[None].float(), size=even, mode="trilinear", align_corners=False)[0]
    up = up[:, :shape_zyx[0], :shape_zyx[1], :shape_zyx[2]]
    return up / up.sum(dim=0, keepdim=True).clamp_min(1e-6)


__all__ = ["COARSE_FACTOR", "N_COARSE_CHANNELS", "coarse_channels", "coarse_hu", "coarse_labels",
           "position_channel", "upsample_probabilities"]
