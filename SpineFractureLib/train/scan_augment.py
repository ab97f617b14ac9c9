"""Scanner augmentation of classifier ROIs: the same anatomy as a coarser CT would show it.

The phantoms of the training sets are drawn at 0.3–0.9 mm in-plane; a real head-and-neck series
can be 3 mm. Resampled to the classifier's 1 mm grid such a scan is blurred and blocky, and the
0.1.x classifiers, which never saw that, call most intact levels fractured (intact phantoms at
3.2 × 3.2 × 1.5 mm: about half of all levels over the balanced threshold, against none at the
drawn clinical spacings). MONAI's ``RandSimulateLowResolution`` draws one isotropic factor and
downsamples without the scanner's blur; this module uses the project's own scanner model
(``to_spacing``, anisotropic, with the blur) instead.
"""

from __future__ import annotations

import numpy as np

from ..preprocess.geometry import resample_like, to_spacing
from ..volume import CTVolume

#: Voxel sizes (mm) a coarse scan is drawn from: in-plane, slice (the 1 mm ROI grid is the finest).
IN_PLANE_MM = (1.0, 3.5)
SLICE_MM = (1.0, 4.0)


def draw_voxel_zyx(rng: np.random.Generator) -> tuple[float, float, float]:
    """A coarse scanner voxel (z, y, x) in mm: square in-plane, its own slice spacing."""
    in_plane = float(rng.uniform(*IN_PLANE_MM))
    return float(rng.uniform(*SLICE_MM)), in_plane, in_plane


def coarsen(box: np.ndarray, voxel_zyx_mm: tuple[float, float, float]) -> np.ndarray:
    """A 1 mm box as a scan of coarser voxels would give it after resampling back to 1 mm.

    The box is brought to the coarse voxel size as a scanner reconstructs it
    (:func:`~SpineFractureLib.preprocess.geometry.to_spacing`: blurred to that width at half
    maximum, then sampled) and interpolated back onto its own grid, as ``analyze`` resamples a
    coarse scan to 1 mm.

    Args:
        box: float array (z, y, x) on a 1 mm grid (HU).
        voxel_zyx_mm: the simulated voxel size (z, y, x) in mm, each ≥ 1.

    Returns:
        float32 array of the box's shape.
    """
    voxel = np.maximum(np.asarray(voxel_zyx_mm, float), 1.0)
    # Edge voxels repeated around the box: the coarse grid's outer voxel centres lie inside the
    # box's, and the way back would read air beyond them.
    pad = int(np.ceil(voxel.max()))
    grid = CTVolume(np.pad(np.asarray(box, np.float32), pad, mode="edge"), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                    np.eye(3))
    back = resample_like(to_spacing(grid, tuple(voxel[::-1])), grid).array
    return np.ascontiguousarray(back[pad:-pad, pad:-pad, pad:-pad], dtype=np.float32)


__all__ = ["coarsen", "draw_voxel_zyx"]
