"""Canonical reorientation and resampling of CTVolumes (SimpleITK does the voxel work)."""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..constants import HU_AIR
from ..volume import CTVolume

log = logging.getLogger(__name__)

#: The library's canonical orientation: index i runs to the patient's Left, j to Posterior and
#: k to Superior, so array[z] goes from the feet to the head.
CANONICAL = "LPS"

#: HU written where resampling looks outside the scanned field of view (air).
AIR_HU = HU_AIR


def orientation_code(volume: CTVolume) -> str:
    """Three-letter code (e.g. "LPS", "RAI") of the nearest anatomical axes of i, j, k."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        tuple(float(v) for v in volume.direction.reshape(-1))
    )


def reorient(volume: CTVolume, code: str = CANONICAL) -> CTVolume:
    """Permute and flip the axes so that they point as near as possible to ``code``.

    Lossless (no interpolation): the world position of every voxel is unchanged. An oblique
    volume stays oblique; use :func:`resample` with ``axis_aligned=True`` to remove obliquity.

    Args:
        volume: any volume; its array is (z, y, x).
        code: target orientation, e.g. "LPS" (the default canonical one) or "RAS".

    Returns:
        A new volume, metadata kept.
    """
    image = sitk.DICOMOrient(volume.to_sitk(), code)
    out = CTVolume.from_sitk(image)
    return _keep_metadata(volume, out)


def resample(
    volume: CTVolume,
    spacing: float | tuple[float, float, float] = 1.0,
    *,
    is_label: bool = False,
    axis_aligned: bool = False,
    default_value: float | None = None,
) -> CTVolume:
    """Resample a volume to a new voxel size covering the same physical extent.

    Args:
        volume: CT (HU) or label map; array axis order (z, y, x).
        spacing: new voxel size in mm, one value (isotropic) or (x, y, z).
        is_label: nearest-neighbour interpolation and the input dtype kept (label maps);
            otherwise linear interpolation to float32 (CT).
        axis_aligned: resample onto an identity direction matrix (the nearest canonical LPS
            grid covering the volume's bounding box) instead of keeping the direction.
        default_value: value outside the input; defaults to 0 for labels and air (-1024 HU) for CT.

    Returns:
        The resampled volume, metadata kept.
    """
    new_spacing = np.broadcast_to(np.asarray(spacing, dtype=float), (3,)).copy()
    if np.any(new_spacing <= 0):
        raise ValueError(f"spacing must be positive, got {spacing}")
    if default_value is None:
        default_value = 0.0 if is_label else AIR_HU
    image = volume.to_sitk()
    if not is_label:
        image = sitk.Cast(image, sitk.sitkFloat32)

    if axis_aligned:
        corners = _corner_points(volume)
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        direction = np.eye(3)
        size = np.maximum(1, np.ceil((hi - lo) / new_spacing - 1e-6)).astype(int)
        origin = lo + new_spacing / 2.0  # centre of the first voxel, bounding box at its edge
    else:
        direction = volume.direction
        old_extent = np.asarray(volume.shape_xyz) * np.asarray(volume.spacing)
        size = np.maximum(1, np.round(old_extent / new_spacing)).astype(int)
        # Keep the outer boundary of the field of view fixed: the first voxel centre moves
        # half a voxel inwards/outwards when the voxel size changes.
        shift = (new_spacing - np.asarray(volume.spacing)) / 2.0
        origin = np.asarray(volume.origin) + direction @ shift

    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    out_image = sitk.Resample(
        image,
        [int(s) for s in size],
        sitk.Transform(),
        interpolator,
        [float(v) for v in origin],
        [float(v) for v in new_spacing],
        [float(v) for v in np.asarray(direction).reshape(-1)],
        float(default_value),
        image.GetPixelID(),
    )
    out = CTVolume.from_sitk(out_image)
    log.debug("resampled %s -> %s voxels at %s mm", volume.shape_xyz, out.shape_xyz, tuple(new_spacing))
    return _keep_metadata(volume, out)


def resample_like(volume: CTVolume, reference: CTVolume, *, is_label: bool = False,
                  default_value: float | None = None) -> CTVolume:
    """Resample ``volume`` onto the grid of ``reference`` (e.g. results back to the input grid).

    Args:
        volume: the volume to move; array axis order (z, y, x).
        reference: the grid to resample onto.
        is_label: nearest neighbour and dtype kept (labels); otherwise linear, float32.
        default_value: value outside ``volume``; 0 for labels, -1024 HU for CT by default.

    Returns:
        A volume on ``reference``'s grid carrying ``volume``'s metadata.
    """
    if default_value is None:
        default_value = 0.0 if is_label else AIR_HU
    image = volume.to_sitk()
    if not is_label:
        image = sitk.Cast(image, sitk.sitkFloat32)
    # The output grid is given by its geometry alone: a reference image would copy the reference's
    # voxels first (420 MB for a 512×512×400 float CT) only to read its size, spacing and axes.
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in reference.shape_xyz])
    resampler.SetOutputSpacing([float(s) for s in reference.spacing])
    resampler.SetOutputOrigin([float(o) for o in reference.origin])
    resampler.SetOutputDirection([float(v) for v in np.asarray(reference.direction).reshape(-1)])
    resampler.SetTransform(sitk.Transform())
    resampler.SetInterpolator(sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear)
    resampler.SetDefaultPixelValue(float(default_value))
    resampler.SetOutputPixelType(image.GetPixelID())
    return _keep_metadata(volume, CTVolume.from_sitk(resampler.Execute(image)))


def to_spacing(ct: CTVolume, spacing_mm: float | tuple[float, float, float], *,
               axis_aligned: bool = False) -> CTVolume:
    """Bring a CT to a coarser voxel size as a scanner would reconstruct it.

    Each axis is first blurred so that the voxel's full width at half maximum becomes the new
    spacing (a thick slice averages what a thin one resolves), then resampled linearly; without
    the blur, a fine phantom keeps its fine noise and edges at the coarse size. Axes already at or
    above the new spacing are not blurred.

    Args:
        ct: CT in HU, array (z, y, x); spacing (x, y, z) mm.
        spacing_mm: the new voxel size (x, y, z) mm, or one value for all three.
        axis_aligned: put the result on an identity-direction grid (as :func:`resample`).

    Returns:
        The CT on a grid with the same extent and the new voxel size (same direction unless
        ``axis_aligned``).
    """
    old = np.asarray(ct.spacing, float)
    new = np.broadcast_to(np.asarray(spacing_mm, float), (3,))
    fwhm_mm = np.sqrt(np.clip(new ** 2 - old ** 2, 0.0, None))
    sigma_vox = fwhm_mm / 2.3548 / old  # (x, y, z) in voxels
    if np.any(sigma_vox > 0.1):
        ct = ct.with_array(ndimage.gaussian_filter(ct.array.astype(np.float32), sigma=sigma_vox[::-1], mode="nearest"))
    return resample(ct, tuple(float(v) for v in new), axis_aligned=axis_aligned)


def _corner_points(volume: CTVolume) -> np.ndarray:
    """LPS positions of the 8 outer corners of the field of view (voxel edges, not centres)."""
    n = np.asarray(volume.shape_xyz, dtype=float)
    grid = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
    corners_ijk = grid * n - 0.5  # outer edges of the first and last voxels
    return volume.index_to_lps(corners_ijk)


def _keep_metadata(src: CTVolume, out: CTVolume) -> CTVolume:
    out.modality = src.modality
    out.series_description = src.series_description
    out.source = src.source
    out.warnings = list(src.warnings)
    return out
