"""CT acquisition effects on the ideal phantom: partial-volume blur, noise, streaks."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ...volume import CTVolume
from .threads import ordered_map

Array = np.ndarray
FWHM_TO_SIGMA = 1.0 / 2.3548


def blur(hu: Array, spacing_xyz: tuple[float, float, float], psf_fwhm_mm: float, threads: int = 1) -> Array:
    """Blur by the scanner's point-spread function and the voxel's own extent (partial volume).

    Args:
        hu: (z, y, x) HU, modified in place and returned.
        spacing_xyz: voxel size (x, y, z) in mm.
        psf_fwhm_mm: full width at half maximum of the in-plane and through-plane PSF.
        threads: slabs of slices filtered at once (the same bytes as one pass).
    """
    psf = psf_fwhm_mm * FWHM_TO_SIGMA
    # A voxel averages over its extent: a box of width s has the variance s^2 / 12.
    sigma_vox = [np.sqrt(psf ** 2 + s ** 2 / 12.0) / s for s in spacing_xyz[::-1]]
    return gaussian_filter_slabs(hu, sigma_vox, "nearest", 3.0, threads)


def gaussian_filter_slabs(a: Array, sigma: list[float] | tuple[float, ...], mode: str, truncate: float,
                          threads: int) -> Array:
    """``scipy.ndimage.gaussian_filter`` of a (z, y, x) array in place, in ``threads`` slabs along z.

    Each slab is filtered with as many neighbouring slices as the z kernel reaches (SciPy's own
    radius, ``int(truncate * sigma_z + 0.5)``) and keeps only its own slices, so every voxel sees
    the same inputs in the same order as in one pass: the result is the same, byte for byte.
    SciPy filters one array on one core; the slabs use several.
    """
    nz = a.shape[0]
    # The wrap modes read the far end of the array: a slab cannot see it (one pass instead).
    if threads <= 1 or nz < 4 * threads or mode in ("wrap", "grid-wrap"):
        return ndimage.gaussian_filter(a, sigma=sigma, output=a, mode=mode, truncate=truncate)
    halo = int(truncate * float(sigma[0]) + 0.5) if sigma[0] > 0 else 0
    edges = np.linspace(0, nz, threads + 1).astype(int)

    def slab(i: int) -> Array:
        lo, hi = int(edges[i]), int(edges[i + 1])
        src_lo, src_hi = max(0, lo - halo), min(nz, hi + halo)
        out = ndimage.gaussian_filter(a[src_lo:src_hi], sigma=sigma, mode=mode, truncate=truncate)
        return out[lo - src_lo:hi - src_lo]

    # All slabs read the unfiltered array; they are written back once every slab is done.
    slabs = list(ordered_map(slab, range(threads), threads))
    for i, out in enumerate(slabs):
        a[int(edges[i]):int(edges[i + 1])] = out
    return a


def add_noise(hu: Array, rng: np.random.Generator, sigma_hu: float, threads: int = 1) -> Array:
    """Add slightly correlated Gaussian noise of standard deviation ``sigma_hu`` (in place)."""
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    gaussian_filter_slabs(noise, (0.0, 0.6, 0.6), "reflect", 2.5, threads)
    noise *= np.float32(sigma_hu / max(float(noise.std()), 1e-6))
    hu += noise
    return hu


def add_streaks(hu: Array, rng: np.random.Generator, bone: Array, n_slices: int) -> Array:
    """Add beam-hardening-like streaks: dark and bright lines through dense bone on a few slices.

    Args:
        hu: (z, y, x) HU, modified in place.
        rng: random generator.
        bone: (z, y, x) bool, where the dense bone is (streaks pass through it).
        n_slices: number of consecutive axial slices affected.
    """
    nz, ny, nx = hu.shape
    candidates = np.nonzero(bone.reshape(nz, -1).any(axis=1))[0]
    if candidates.size == 0:
        return hu
    k0 = int(rng.choice(candidates))
    ks = range(max(0, k0 - n_slices // 2), min(nz, k0 + n_slices // 2 + 1))
    jj, ii = np.mgrid[0:ny, 0:nx].astype(np.float32)
    for _ in range(int(rng.integers(2, 5))):
        angle = rng.uniform(0, np.pi)
        pts = np.argwhere(bone[k0])
        if pts.size == 0:
            break
        j0, i0 = pts[int(rng.integers(len(pts)))]
        dist = np.abs((ii - i0) * np.sin(angle) - (jj - j0) * np.cos(angle))
        line = np.float32(rng.choice([-1.0, 1.0]) * rng.uniform(40.0, 120.0)) * np.exp(-(dist ** 2) / 2.0)
        for k in ks:
            hu[k] += line
    return hu


#: Largest sub-voxel (mm) an antialiased phantom is drawn on: finer than the thinnest cortex (0.8 mm).
SUBVOXEL_MM = 0.7


def subvoxel_factors(spacing_xyz: tuple[float, float, float]) -> tuple[int, int, int]:
    """How many sub-voxels (x, y, z) each voxel is split into so that none is over :data:`SUBVOXEL_MM`."""
    return tuple(max(int(np.ceil(s / SUBVOXEL_MM - 1e-9)), 1) for s in spacing_xyz)


def subvoxel_grid(grid: CTVolume, factors_xyz: tuple[int, int, int]) -> CTVolume:
    """The grid (a zero-filled CTVolume) whose voxels split each of ``grid``'s into ``factors_xyz``.

    Block (k, j, i) of the fine grid, ``factors`` sub-voxels on a side, covers exactly voxel
    (k, j, i) of ``grid``: a block mean is what the coarse voxel integrates.
    """
    f = np.asarray(factors_xyz, float)
    spacing = np.asarray(grid.spacing, float) / f
    origin = np.asarray(grid.origin) + grid.direction @ ((0.5 / f - 0.5) * np.asarray(grid.spacing, float))
    shape = tuple(int(n * k) for n, k in zip(grid.array.shape, factors_xyz[::-1]))
    return dataclasses.replace(grid, array=np.zeros(shape, np.float32), spacing=tuple(spacing),
                               origin=tuple(origin), warnings=[])


def block_centre(a: Array, factors_xyz: tuple[int, int, int]) -> Array:
    """The sub-voxel nearest each block's centre (labels and masks: no value is invented)."""
    fz, fy, fx = factors_xyz[::-1]
    return np.ascontiguousarray(a[fz // 2::fz, fy // 2::fy, fx // 2::fx])
