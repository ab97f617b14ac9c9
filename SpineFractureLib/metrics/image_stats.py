"""Image statistics that say how CT-like a volume is: the realism comparison of phantoms and real scans.

A phantom generator is only as good as its likeness to the scans users load. These figures put a
phantom and a real CT on the same footing (the same voxel size, see :func:`to_spacing`) and
measure what a reader's eye and the networks' filters see: the HU distribution of the body and of
bone, how much of the body is bone, the soft-tissue noise, and how sharp bone edges are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..volume import CTVolume

#: Above this (HU) a voxel is in the body (fat is -100, lung -850..-500; air -1000).
BODY_HU = -400.0
#: Above this (HU) a voxel is bone (cancellous bone 150-400, cortex 700-1500).
BONE_HU = 200.0
#: Soft tissue for the noise estimate (HU): fat to muscle and blood, no bone, no air.
SOFT_TISSUE_HU = (-150.0, 150.0)
PERCENTILES = (5, 25, 50, 75, 95)
#: Cancellous bone's 2 mm local mean is above this (HU); brain, fat and water are below it.
MARROW_MIN_HU = 100.0


@dataclass(frozen=True)
class ImageStats:
    """Figures of one CT (see :func:`image_stats`).

    Attributes:
        spacing_mm: voxel size (x, y, z) the figures were measured at.
        body_hu_percentiles: HU at :data:`PERCENTILES` over the body.
        bone_hu_percentiles: HU at :data:`PERCENTILES` over bone (> :data:`BONE_HU`).
        bone_fraction: bone voxels / body voxels.
        soft_tissue_noise_hu: standard deviation (HU) of soft tissue around its local mean.
        bone_edge_hu_per_mm: median gradient magnitude (HU/mm) on the bone surface.
        cancellous_spread_hu: spread (HU, robust standard deviation) of the inside of bones
            around its 2 mm local mean: trabecular texture plus noise (None where no bone
            interior is at least 2 mm deep at this voxel size).
    """

    spacing_mm: tuple[float, float, float]
    body_hu_percentiles: tuple[float, ...]
    bone_hu_percentiles: tuple[float, ...] | None
    bone_fraction: float
    soft_tissue_noise_hu: float | None
    bone_edge_hu_per_mm: float | None
    cancellous_spread_hu: float | None = None

    def as_json(self) -> dict:
        """The figures as a JSON-ready dict (rounded)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, (list, tuple)):
                out[key] = [round(float(v), 2) for v in value]
            elif isinstance(value, float):
                out[key] = round(value, 4)
        return out


def image_stats(ct: CTVolume) -> ImageStats:
    """Measure :class:`ImageStats` of a CT at its own voxel size.

    The body is the largest connected region above :data:`BODY_HU` (the table and the air
    outside the scan, such as the -3024 HU padding some scanners write, are left out).

    Args:
        ct: CT in HU, array (z, y, x).
    """
    hu = np.asarray(ct.array, np.float32)
    body = _largest_component(hu > BODY_HU)
    if not body.any():
        raise ValueError(f"{ct.source or 'the CT'}: no body (nothing above {BODY_HU:g} HU)")
    body_hu = hu[body]
    bone = body & (hu > BONE_HU)
    spacing_zyx = np.asarray(ct.spacing[::-1], float)
    return ImageStats(
        spacing_mm=tuple(float(s) for s in ct.spacing),
        body_hu_percentiles=tuple(float(v) for v in np.percentile(body_hu, PERCENTILES)),
        bone_hu_percentiles=tuple(float(v) for v in np.percentile(hu[bone], PERCENTILES)) if bone.any() else None,
        bone_fraction=float(bone.sum() / body.sum()),
        soft_tissue_noise_hu=_noise(hu, body),
        bone_edge_hu_per_mm=_edge(hu, bone, spacing_zyx),
        cancellous_spread_hu=_cancellous_spread(hu, bone, spacing_zyx),
    )


def _largest_component(mask: np.ndarray) -> np.ndarray:
    comp, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(comp.ravel())[1:]
    return comp == int(np.argmax(sizes)) + 1


def _noise(hu: np.ndarray, body: np.ndarray) -> float | None:
    """Noise (HU): the spread of soft tissue around its 3×3×3 mean, where the whole block is soft tissue.

    A voxel minus the mean of its 27-voxel block has variance σ²·26/27 for white noise σ; the
    median absolute deviation (×1.4826) makes the estimate ignore the few edges left in the mask.
    """
    lo, hi = SOFT_TISSUE_HU
    soft = body & (hu > lo) & (hu < hi)
    core = ndimage.binary_erosion(soft, structure=np.ones((3, 3, 3), bool))
    if core.sum() < 100:
        return None
    residual = (hu - ndimage.uniform_filter(hu, size=3, mode="nearest"))[core]
    mad = float(np.median(np.abs(residual - np.median(residual))))
    return 1.4826 * mad * np.sqrt(27.0 / 26.0)


def _cancellous_spread(hu: np.ndarray, bone: np.ndarray, spacing_zyx: np.ndarray,
                       depth_mm: float = 2.0) -> float | None:
    """Robust spread (HU) of marrow voxels around the Gaussian (σ = 2 mm) mean of the marrow near them.

    Marrow: inside the bone outline (each axial slice's bone with its holes filled, as a cortex
    encloses the medulla), at least ``depth_mm`` from that outline, below 600 HU (not cortex),
    where the local mean is at least :data:`MARROW_MIN_HU` (the brain inside a skull's ring, or
    the fat of a lumen, fills the same holes but is not marrow). The local mean is taken over
    marrow voxels only (normalised convolution), so the bright cortex beside them does not count
    as texture; median absolute deviation ×1.4826.
    """
    filled = np.stack([ndimage.binary_fill_holes(b) for b in bone])
    marrow = filled & (hu < 600.0)
    sample = marrow & (ndimage.distance_transform_edt(filled, sampling=spacing_zyx) >= depth_mm)
    if sample.sum() < 100:
        return None
    sigma = 2.0 / spacing_zyx
    weight = ndimage.gaussian_filter(marrow.astype(np.float32), sigma, mode="constant")
    local = ndimage.gaussian_filter(np.where(marrow, hu, 0.0).astype(np.float32), sigma, mode="constant")
    mean = local / np.maximum(weight, 1e-6)
    sample &= mean >= MARROW_MIN_HU
    if sample.sum() < 100:
        return None
    residual = (hu - mean)[sample]
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


def _edge(hu: np.ndarray, bone: np.ndarray, spacing_zyx: np.ndarray) -> float | None:
    """Median gradient magnitude (HU/mm) on the outer layer of bone voxels."""
    surface = bone & ~ndimage.binary_erosion(bone)
    if surface.sum() < 10:
        return None
    grads = np.gradient(hu, *spacing_zyx)
    magnitude = np.sqrt(sum(g[surface] ** 2 for g in grads))
    return float(np.median(magnitude))


__all__ = ["BODY_HU", "BONE_HU", "ImageStats", "MARROW_MIN_HU", "PERCENTILES", "SOFT_TISSUE_HU", "image_stats"]
