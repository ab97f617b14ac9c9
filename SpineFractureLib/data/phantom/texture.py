"""Trabecular texture: the mottled look of cancellous bone, as a band-passed random field.

Cancellous bone on CT is not a flat grey: its trabeculae (plates and rods 0.1–0.3 mm thick,
1–2 mm apart) average, at clinical voxel sizes, into a mottle of a few tens of HU. Here that is a
periodic random field: thin bright sheets where a field band-passed to periods of ``PERIOD_MM``
crosses zero (a sponge of plates), unit variance, sampled in
each bone's own frame (so the pattern moves with the bone and is the same at any scanner grid),
each bone at its own offset, and scaled by a per-patient amplitude (HU). Dependencies: NumPy and
SciPy's ``map_coordinates``; a periodic field made by FFT needs no tiling seams, which is why
it is built here rather than with MONAI's (non-periodic) random field transforms.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Array = np.ndarray
#: Grid of the field: voxels per side and voxel size (mm); the pattern repeats every 48 mm.
FIELD_VOXELS, FIELD_SPACING_MM = 96, 0.5
#: Periods (mm) between which the field has its power (trabecular spacing at CT resolution).
PERIOD_MM = (2.0, 6.0)
#: Width of the sheets, in standard deviations of the smooth field around its zero crossings.
RIDGE_WIDTH = 0.4
#: Range of the per-patient amplitude (standard deviation, HU) of the texture.
AMPLITUDE_HU = (70.0, 140.0)


@dataclass(frozen=True)
class TrabecularTexture:
    """A unit-variance periodic field and the HU amplitude it is drawn with.

    Attributes:
        field: float32, (FIELD_VOXELS,) * 3, axis order (w, v, u); mean 0, standard deviation 1
            as sampled between its grid points (about 1.25 on them).
        amplitude_hu: standard deviation (HU) of the texture added to cancellous bone.
    """

    field: Array
    amplitude_hu: float

    def hu(self, u: Array, v: Array, w: Array, bone: str) -> Array:
        """The texture (HU) at local coordinates (mm, any equal shapes) of the bone named ``bone``.

        Each bone name gets its own fixed offset into the field, so neighbouring vertebrae do
        not repeat each other's pattern.
        """
        offset = (np.frombuffer(zlib.crc32(bone.encode()).to_bytes(4, "little"), np.uint8)[:3]
                  / 255.0 * FIELD_VOXELS)
        idx = [np.asarray(c, np.float32) / FIELD_SPACING_MM + o for c, o in zip((w, v, u), offset)]
        values = ndimage.map_coordinates(self.field, idx, order=1, mode="grid-wrap")
        return (values * self.amplitude_hu).astype(np.float32)


def sample_texture(rng: np.random.Generator) -> TrabecularTexture:
    """Draw one patient's texture: the field (white noise, band-passed in Fourier space) and the
    amplitude (uniform in :data:`AMPLITUDE_HU`)."""
    n = FIELD_VOXELS
    noise = rng.standard_normal((n, n, n)).astype(np.float32)
    f = np.fft.fftfreq(n, d=FIELD_SPACING_MM)  # cycles per mm
    radius = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    band = ((radius >= 1.0 / PERIOD_MM[1]) & (radius <= 1.0 / PERIOD_MM[0])).astype(np.float32)
    smooth = np.fft.ifftn(np.fft.fftn(noise) * band).real.astype(np.float32)
    smooth /= max(float(smooth.std()), 1e-6)
    # Bright thin sheets where the smooth field crosses zero: a sponge of plates, as trabeculae
    # are, on darker marrow (a plain band-passed field looks like blotches).
    field = np.exp(-(smooth / RIDGE_WIDTH) ** 2)
    field -= field.mean()
    # Scaled to unit variance as a scanner's voxels sample it (anywhere between grid points, where
    # trilinear interpolation averages the thin sheets): the mean of the variances on the grid
    # and at the cells' centres (the mean of each cell's eight corners).
    centres = sum(np.roll(field, shift, axis=(0, 1, 2)) for shift in np.ndindex(2, 2, 2)) / 8.0
    spread = np.sqrt((field.var() + centres.var()) / 2.0)
    field = (field / max(float(spread), 1e-6)).astype(np.float32)
    return TrabecularTexture(field, float(rng.uniform(*AMPLITUDE_HU)))


__all__ = ["AMPLITUDE_HU", "FIELD_SPACING_MM", "FIELD_VOXELS", "PERIOD_MM", "TrabecularTexture", "sample_texture"]
