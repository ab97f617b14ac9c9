"""A small, fast synthetic neck CT: a stand-in volume for the demo and for I/O tests.

Not anatomy: an elliptical neck of soft tissue under a fat layer, an airway, and a column of
seven bone blocks separated by discs. The realistic cervical-spine phantom with fractures is a
separate generator; this one only needs plausible HU and geometry.
"""

from __future__ import annotations

import numpy as np

from ..volume import CTVolume


def make_toy_ct(
    size_xyz: tuple[int, int, int] = (96, 96, 80),
    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0),
    seed: int = 0,
    noise_hu: float = 15.0,
) -> CTVolume:
    """Make a toy neck CT in HU.

    Args:
        size_xyz: voxels along (x, y, z).
        spacing: voxel size (x, y, z) in mm.
        seed: seed of the noise; the same seed gives the same array.
        noise_hu: standard deviation of the Gaussian noise in HU.

    Returns:
        A CTVolume in canonical LPS orientation, array (z, y, x) float32, centred on the origin.
    """
    nx, ny, nz = size_xyz
    sx, sy, sz = spacing
    z, y, x = np.meshgrid(
        (np.arange(nz) - (nz - 1) / 2) * sz,
        (np.arange(ny) - (ny - 1) / 2) * sy,
        (np.arange(nx) - (nx - 1) / 2) * sx,
        indexing="ij",
    )
    half_w, half_d = 0.42 * nx * sx, 0.38 * ny * sy  # neck half-width (L-R) and half-depth (A-P)
    r_neck = (x / half_w) ** 2 + (y / half_d) ** 2
    ct = np.full(x.shape, -1000.0, dtype=np.float32)  # air
    ct[r_neck <= 1.0] = -100.0  # subcutaneous fat
    ct[r_neck <= 0.8] = 40.0  # muscle and soft tissue
    ct[(x / 6.0) ** 2 + ((y + 0.45 * half_d) / 7.0) ** 2 <= 1.0] = -1000.0  # airway (anterior)
    column = (x / 9.0) ** 2 + ((y - 0.15 * half_d) / 8.0) ** 2 <= 1.0
    period = nz * sz / 7.0
    in_body = np.mod(z - z.min(), period) < 0.7 * period  # bone block, then disc
    ct[column & in_body] = 300.0
    ct[column & ~in_body] = 90.0
    shell = column & ~((x / 8.0) ** 2 + ((y - 0.15 * half_d) / 7.0) ** 2 <= 1.0) & in_body
    ct[shell] = 1000.0  # cortical rim
    rng = np.random.default_rng(seed)
    ct += rng.normal(0.0, noise_hu, ct.shape).astype(np.float32)
    origin = (-(nx - 1) / 2 * sx, -(ny - 1) / 2 * sy, -(nz - 1) / 2 * sz)
    return CTVolume(ct, spacing, origin, np.eye(3), series_description="toy neck CT")
