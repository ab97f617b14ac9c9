"""``load_ct``: one entry point for every CT input the project accepts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import CTVolume
from .calibration import check_hu_calibration
from .dicom_read import is_dicom_file, load_dicom_series
from .image_files import is_image_file, read_image_file

log = logging.getLogger(__name__)

SUPPORTED = "a DICOM folder or file, .nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd"


def load_ct(
    path: str | os.PathLike,
    *,
    hu_offset: float | None = None,
    auto_hu_correction: bool = False,
) -> CTVolume:
    """Load a CT volume in HU from a DICOM folder or an image file, with sanity checks.

    Args:
        path: a folder of DICOM files (searched recursively; the CT series with the most slices
            is used), one DICOM file, or a .nii/.nii.gz/.nrrd/.nhdr/.mha/.mhd file.
        hu_offset: HU added to every voxel, for files whose rescale is known to be wrong.
            Takes precedence over ``auto_hu_correction``.
        auto_hu_correction: when the histogram says the values are not HU, add the detected
            offset (recorded in ``warnings``). Off by default so nothing changes silently;
            ``analyze`` turns it on.

    Returns:
        The volume: array (z, y, x) float32 HU, geometry in LPS, ``warnings`` filled with what
        the checks found (several series, uneven spacing, gantry tilt, calibration).

    Raises:
        InputError: the path is missing, empty, of an unsupported type, not a CT, not 3D,
            broken, or holds NaN/infinite values. The message names the path and the problem.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or folder")
    if p.is_dir():
        if not any(p.iterdir()):
            raise InputError(p, "the folder is empty")
        volume = load_dicom_series(p)
    elif is_image_file(p):
        volume = read_image_file(p)
    elif is_dicom_file(p):
        volume = load_dicom_series(p)
    else:
        raise InputError(p, f"unsupported file type; expected {SUPPORTED}")

    volume.array = np.asarray(volume.array, dtype=np.float32)
    bad = int(np.count_nonzero(~np.isfinite(volume.array)))
    if bad:
        raise InputError(p, f"contains {bad} NaN or infinite voxel value(s)")

    low, high = float(volume.array.min()), float(volume.array.max())
    if low == high:
        raise InputError(p, f"every voxel has the same value ({low:g}): there is no image (a RescaleSlope of 0, "
                            "or an empty export)")
    check = check_hu_calibration(volume.array)
    if hu_offset is not None:
        volume.array += np.float32(hu_offset)
        volume.warnings.append(f"added an HU offset of {hu_offset:g} as requested")
    elif not check.plausible and check.suggested_offset is not None:
        if auto_hu_correction:
            volume.array += np.float32(check.suggested_offset)
            volume.warnings.append(f"{check.message}; added {check.suggested_offset:g} HU "
                                   "(turn this off with --no-hu-correction, or set --hu-offset)")
        else:
            volume.warnings.append(f"{check.message} (use --hu-offset {check.suggested_offset:g})")
    for w in volume.warnings:
        log.info("%s: %s", p.name, w)
    return volume
