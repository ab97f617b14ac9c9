"""Scanner augmentation of classifier ROIs: the same anatomy as a coarser CT would show it.

The phantoms of the training sets are drawn at 0.3–0.9 mm in-plane; a real head-and-neck series
can be 3 mm. Resampled to the classifier's 1 mm grid such a scan is blurred and blocky, and the
0.1.x classifiers, which never saw that, call most intact levels fractured (intact phantoms at
3.2 × 3.2 × 1.5 mm: about half of all levels over the balanced threshold, against none at the
drawn clinical spacings). MONAI's ``RandSimulateLowResolution`` draws one isotropic factor and
downsamples without the scanner's blur, so this module does the anisotropic version with scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: FWHM (mm) = 2.3548 × sigma (mm) of a Gaussian point-spread function.
FWHM_PER_SIGMA = 2.3548
#: Voxel sizes (mm) a coarse scan is drawn from: in-plane, slice (the 1 mm ROI grid is the finest).
IN_PLANE_MM = (1.0, 3.5)
SLICE_MM = (1.0, 4.0)


def draw_voxel_zyx(rng: np.random.Generator) -> tuple[float, float, float]:
    """A coarse scanner voxel (z, y, x) in mm: square in-plane, its own slice spacing."""
    in_plane = float(rng.uniform(*IN_PLANE_MM))
    return float(rng.uniform(*SLICE_MM)), in_plane, in_plane


def coarsen(box: np.ndarray, voxel_zyx_mm: tuple[float, float, float]) -> np.ndarray:
    """A 1 mm box as a scan of coarser voxels would give it after resampling back to 1 mm.

    Blurs by the coarse scanner's point-spread function (FWHM = voxel size, less the ~1 mm
    the box already holds), samples at the coarse voxel size and interpolates back linearly.

    Args:
        box: float array (z, y, x) on a 1 mm grid (HU).
        voxel_zyx_mm: the simulated voxel size (z, y, x) in mm, each ≥ 1.

    Returns:
        float32 array of the box's shape.
    """
    v = np.maximum(np.asarray(voxel_zyx_mm, float), 1.0)
    sigma = np.sqrt(v ** 2 - 1.0) / FWHM_PER_SIGMA
    blurred = ndimage.gaussian_filter(box.astype(np.float32), sigma, mode="nearest")
    shape = np.asarray(box.shape)
    small_shape = np.maximum(np.round(shape / v), 2)
    small = ndimage.zoom(blurred, small_shape / shape, order=1, mode="nearest")
    back = ndimage.zoom(small, shape / np.asarray(small.shape), order=1, mode="nearest")
    return back.astype(np.float32, copy=False)


__all__ = ["coarsen", "draw_voxel_zyx"]
