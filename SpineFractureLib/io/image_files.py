"""Reading CT volumes from single image files: NIfTI (.nii, .nii.gz), NRRD and MetaImage.

SimpleITK does the reading (NIfTI's RAS storage is converted to LPS by ITK itself);
NIfTI files are first checked for truncation and NaN, which ITK hides.
"""

from __future__ import annotations

import os

import numpy as np

import SimpleITK as sitk

from ..errors import InputError
from ..volume import CTVolume
from .nifti_check import check_nifti, check_nifti_header
from .seg_nrrd_read import is_seg_nrrd, read_seg_nrrd_on_grid

#: File endings read as single-file images (lower case).
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name ends in one of :data:`IMAGE_SUFFIXES`."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def read_image_file(path: str | os.PathLike, *, is_label: bool = False) -> CTVolume:
    """Read a 3D scalar image file into a CTVolume.

    Args:
        path: .nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd file.
        is_label: keep the stored integer type (label maps); otherwise convert to float32.

    Returns:
        The volume; array axis order (z, y, x), geometry in LPS. Modality is "CT" (assumed:
        these formats carry none).

    Raises:
        InputError: unreadable file, not 3D, or not scalar.
    """
    path = os.fspath(path)
    if path.lower().endswith((".nii", ".nii.gz")):
        check_nifti_header(path)
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        reader.ReadImageInformation()
        dim = reader.GetDimension()
        components = reader.GetNumberOfComponents()
        size = reader.GetSize()
    except RuntimeError as exc:
        raise InputError(path, "not a readable image file (corrupt, or not the format its name says)") from exc
    if components != 1:
        raise InputError(path, f"has {components} components per voxel; a CT volume has one")
    if dim == 4 and size[3] == 1:
        dim = 3  # a 4D file with a single time point is a 3D volume
    if dim != 3:
        raise InputError(path, f"is a {dim}D image of size {tuple(size)}; a CT volume is 3D")
    if min(size[:3]) < 2:
        raise InputError(path, f"is a single slice (size {tuple(size[:3])}); a CT volume is 3D")
    if path.lower().endswith((".nii", ".nii.gz")):
        check_nifti(path)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(path, "image data could not be read (truncated file?)") from exc
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    if not is_label:
        image = sitk.Cast(image, sitk.sitkFloat32)
    return CTVolume.from_sitk(image, modality="CT", source=path)


#: Largest geometry difference (mm) accepted between a CT and a mask stored in another file
#: (NIfTI keeps its geometry in float32).
MASK_GRID_TOLERANCE_MM = 0.05


def read_mask_on_grid(path: str | os.PathLike, reference: CTVolume) -> CTVolume:
    """Read a label/mask image that must lie on ``reference``'s grid.

    Args:
        path: the mask file (any format :func:`read_image_file` reads, or a Slicer ``.seg.nrrd``
            whose segments are named C1..C7, see :mod:`.seg_nrrd_read`).
        reference: the CT it belongs to; array axis order (z, y, x).

    Returns:
        The mask as uint8 with exactly ``reference``'s geometry.

    Raises:
        InputError: the file is missing or unreadable, or its grid differs from the CT's by more
            than :data:`MASK_GRID_TOLERANCE_MM`.
    """
    if not os.path.exists(path):
        raise InputError(path, "file missing")
    if is_seg_nrrd(path):
        return read_seg_nrrd_on_grid(path, reference)
    mask = read_image_file(path, is_label=True)
    if not mask.same_grid(reference, tol_mm=MASK_GRID_TOLERANCE_MM):
        raise InputError(path, f"mask grid ({mask.shape_xyz} voxels, spacing "
                               f"{tuple(round(s, 3) for s in mask.spacing)}, origin "
                               f"{tuple(round(o, 2) for o in mask.origin)}) differs from the CT's ("
                               f"{reference.shape_xyz}, {tuple(round(s, 3) for s in reference.spacing)}, "
                               f"{tuple(round(o, 2) for o in reference.origin)})")
    return reference.with_array(mask.array.astype(np.uint8), series_description="", source=os.fspath(path))
