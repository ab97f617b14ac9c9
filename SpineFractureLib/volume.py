"""CTVolume: a voxel array with its physical geometry in LPS coordinates.

Conventions used everywhere in the library (DESIGN §4):

* ``array`` is indexed ``(z, y, x)`` = ``(k, j, i)``, exactly as ``SimpleITK.GetArrayFromImage``
  returns it; ``i`` is the fastest-varying (column) index.
* ``spacing`` and ``origin`` are given in index order ``(i, j, k)`` / ``(x, y, z)``, in mm, as in
  SimpleITK. ``origin`` is the centre of voxel ``(0, 0, 0)``.
* ``direction`` is a 3×3 matrix whose column ``c`` is the unit vector, in LPS, of index axis ``c``
  (the SimpleITK direction reshaped row-major to 3×3).
* World coordinates are LPS (DICOM/ITK). RAS is produced only at the Slicer boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

#: Homogeneous 4×4 matrix converting LPS to RAS (and back: it is its own inverse).
LPS_TO_RAS: np.ndarray = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class CTVolume:
    """A 3D image with geometry; CT intensities are in Hounsfield units.

    Attributes:
        array: voxel values, axis order (z, y, x). float32 HU for CT; uint8 for label maps.
        spacing: voxel size (x, y, z) in mm.
        origin: LPS position (mm) of the centre of voxel (i, j, k) = (0, 0, 0).
        direction: 3×3 matrix; column c is the LPS unit vector of index axis c (i, j, k).
        modality: DICOM modality, "CT" when unknown (NIfTI, NRRD and MHA carry none).
        series_description: DICOM SeriesDescription or "" (never patient identifiers).
        source: the path the volume was read from, "" when made in memory.
        warnings: human-readable warnings collected while loading (calibration, tilt, ...).
        source_files: for DICOM input, the slice files in the order of the k axis.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    modality: str = "CT"
    series_description: str = ""
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise ValueError(f"CTVolume needs a 3D (z, y, x) array, got shape {self.array.shape}")
        self.spacing = _triple(self.spacing, "spacing")
        self.origin = _triple(self.origin, "origin")
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")
        if abs(np.linalg.det(self.direction)) < 1e-6:
            raise ValueError("direction matrix is singular")

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        """Number of voxels along (x, y, z) = (i, j, k)."""
        z, y, x = self.array.shape
        return (x, y, z)

    def ijk_to_lps(self) -> np.ndarray:
        """Homogeneous 4×4 matrix mapping a voxel index (i, j, k, 1) to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def ijk_to_ras(self) -> np.ndarray:
        """Homogeneous 4×4 matrix mapping a voxel index (i, j, k, 1) to RAS mm (Slicer's world)."""
        return LPS_TO_RAS @ self.ijk_to_lps()

    def lps_to_ijk(self) -> np.ndarray:
        """Homogeneous 4×4 matrix mapping LPS mm to continuous voxel index (i, j, k, 1)."""
        return np.linalg.inv(self.ijk_to_lps())

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """LPS positions (mm) of voxel indices.

        Args:
            ijk: (..., 3) indices in (i, j, k) = (x, y, z) order; may be fractional.

        Returns:
            (..., 3) LPS coordinates in mm.
        """
        ijk = np.asarray(ijk, dtype=float)
        m = self.ijk_to_lps()
        return ijk @ m[:3, :3].T + m[:3, 3]

    def lps_to_index(self, lps: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (i, j, k) of LPS positions (mm), shape (..., 3)."""
        lps = np.asarray(lps, dtype=float)
        m = self.lps_to_ijk()
        return lps @ m[:3, :3].T + m[:3, 3]

    def with_array(self, array: np.ndarray, **changes: Any) -> CTVolume:
        """A volume with this geometry and metadata but another (z, y, x) array of the same shape."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from volume shape {self.array.shape}")
        return dataclasses.replace(
            self, array=array, warnings=list(self.warnings), **changes
        )

    def sub_volume(self, lo_zyx: tuple[int, int, int], hi_zyx: tuple[int, int, int]) -> CTVolume:
        """The voxels [lo, hi) along (z, y, x) as a volume of their own, on exactly this grid.

        No resampling: the same spacing and direction, the origin moved to voxel ``lo``, so every
        voxel keeps its LPS position.
        """
        lo = np.clip(np.asarray(lo_zyx, int), 0, self.array.shape)
        hi = np.clip(np.asarray(hi_zyx, int), lo, self.array.shape)
        array = self.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        origin = tuple(float(v) for v in self.index_to_lps(lo[::-1].astype(float)))
        return dataclasses.replace(self, array=array, origin=origin, warnings=list(self.warnings),
                                   source_files=[])

    def same_grid(self, other: CTVolume, tol_mm: float = 1e-3) -> bool:
        """True when ``other`` has the same shape and voxel-to-world mapping (within ``tol_mm``)."""
        if self.array.shape != other.array.shape:
            return False
        corners = np.array([[0, 0, 0], [x - 1 for x in self.shape_xyz]], dtype=float)
        return bool(np.allclose(self.index_to_lps(corners), other.index_to_lps(corners), atol=tol_mm))

    def to_sitk(self) -> sitk.Image:
        """The volume as a SimpleITK image (same geometry; LPS like ITK)."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(float(v) for v in self.direction.reshape(-1)))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, **metadata: Any) -> CTVolume:
        """Make a volume from a 3D scalar SimpleITK image (its geometry is LPS already)."""
        if image.GetDimension() != 3:
            raise ValueError(f"need a 3D image, got {image.GetDimension()}D")
        return cls(
            array=sitk.GetArrayFromImage(image),
            spacing=image.GetSpacing(),
            origin=image.GetOrigin(),
            direction=np.array(image.GetDirection()).reshape(3, 3),
            **metadata,
        )


def _triple(values: Any, name: str) -> tuple[float, float, float]:
    out = tuple(float(v) for v in values)
    if len(out) != 3:
        raise ValueError(f"{name} needs 3 values (x, y, z), got {len(out)}")
    return out  # type: ignore[return-value]


def box_around_labels(labels: np.ndarray, spacing: tuple[float, float, float], margin_mm: float
                      ) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
    """The voxel box [lo, hi) along (z, y, x) of a label array's non-zero voxels plus a margin.

    Args:
        labels: (z, y, x) array.
        spacing: voxel size (x, y, z) mm.
        margin_mm: added on every side (clipped to the array).

    Returns:
        (lo, hi), or None when no voxel is labelled.
    """
    inside = [np.nonzero(labels.any(axis=axes))[0] for axes in ((1, 2), (0, 2), (0, 1))]
    if any(len(i) == 0 for i in inside):
        return None
    margin = [int(np.ceil(margin_mm / s)) for s in spacing[::-1]]
    lo = tuple(max(int(i[0]) - m, 0) for i, m in zip(inside, margin))
    hi = tuple(min(int(i[-1]) + 1 + m, n) for i, m, n in zip(inside, margin, labels.shape))
    return lo, hi

