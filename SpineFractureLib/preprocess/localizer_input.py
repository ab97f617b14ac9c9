"""What the localizer sees: the whole CT at 4 mm on a canonical (LPS) grid, two HU windows.

At 4 mm a whole-body scan is about 120 × 120 × 230 voxels: one pass of a small network covers it
in a fraction of a second, and the context that tells a cervical vertebra from a thoracic one
(skull above, ribs and lungs below) is in view. The scan is blurred to the new voxel size before
resampling, as a scanner reconstructs thick voxels, so that a 0.5 mm and a 3 mm scan look alike.
"""

from __future__ import annotations

import numpy as np

from ..constants import HU_AIR
from ..volume import CTVolume
from .geometry import to_spacing

#: Voxel size (mm) of the localizer's grid.
LOCALIZER_MM = 4.0
#: Input channels: soft tissue and air (-1000..400 HU), bone (150..1500 HU), each to 0..1.
N_LOCALIZER_CHANNELS = 2


def localizer_volume(ct: CTVolume) -> CTVolume:
    """The CT at :data:`LOCALIZER_MM` on an identity-direction grid (array axes z = S, y = P, x = L).

    Args:
        ct: CT in HU, any orientation and spacing; array (z, y, x).
    """
    # One pass and one copy: clip-then-astype made two 400 MB copies of a 512×512×400 CT.
    clipped = ct.with_array(np.maximum(ct.array, np.float32(HU_AIR), dtype=np.float32))
    return to_spacing(clipped, LOCALIZER_MM, axis_aligned=True)


def localizer_channels(hu: np.ndarray) -> np.ndarray:
    """The two input channels of HU (z, y, x): float32 (2, z, y, x) in 0..1."""
    soft = np.clip((hu + 1000.0) / 1400.0, 0.0, 1.0)
    bone = np.clip((hu - 150.0) / 1350.0, 0.0, 1.0)
    return np.stack([soft, bone]).astype(np.float32)


__all__ = ["LOCALIZER_MM", "N_LOCALIZER_CHANNELS", "localizer_channels", "localizer_volume"]
