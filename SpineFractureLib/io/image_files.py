"""Reading CT volumes from single image files: NIfTI (.nii, .nii.gz), NRRD and MetaImage.

SimpleITK does the reading (NIfTI's RAS storage is converted to LPS by ITK itself);
NIfTI files are first checked for truncation and NaN, which ITK hides.
"""

from __future__ import annotations

import os

import SimpleITK as sitk

from ..errors import InputError
from ..volume import CTVolume
from .nifti_check import check_nifti

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
