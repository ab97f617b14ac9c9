"""One labelled case on disk: a folder with the CT (DICOM series or NIfTI), ``labels.nii.gz``
(C1–C7), ``fracture.nii.gz`` and ``truth.json``. The phantom command writes it; training and
evaluation read it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from ..io import load_ct
from ..io.dicom_write import write_dicom_series
from ..io.image_files import read_mask_on_grid
from ..io.staging import staged_dir
from .case import LabelledCase

FORMATS = ("nifti", "dicom")


def write_case(case: LabelledCase, folder: str | os.PathLike, fmt: str = "nifti") -> Path:
    """Write ``case`` into ``folder`` (replaced atomically; nothing half-written on failure).

    Args:
        case: the case; its label map may hold thoracic labels, only C1–C7 are written.
        folder: the case's folder.
        fmt: "nifti" (``ct.nii.gz``) or "dicom" (``ct/`` with one file per slice).

    Returns:
        The folder.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    folder = Path(folder)
    with staged_dir(folder) as tmp:
        if fmt == "nifti":
            sitk.WriteImage(case.ct.to_sitk(), str(tmp / "ct.nii.gz"), True)
        else:
            write_dicom_series(case.ct, tmp / "ct", series_description=case.ct.series_description or case.case_id,
                               uid_seed=case.case_id)
        sitk.WriteImage(case.ct.with_array(case.cervical_labels()).to_sitk(), str(tmp / "labels.nii.gz"), True)
        if case.fracture is not None:
            sitk.WriteImage(case.fracture.to_sitk(), str(tmp / "fracture.nii.gz"), True)
        (tmp / "truth.json").write_text(json.dumps({"case_id": case.case_id, **case.truth}, indent=1))
    return folder


def read_case(folder: str | os.PathLike) -> LabelledCase:
    """Read a case folder written by :func:`write_case`.

    Raises:
        InputError: a missing file, or a mask not on the CT's grid.
    """
    folder = Path(folder)
    ct_path = folder / "ct.nii.gz" if (folder / "ct.nii.gz").exists() else folder / "ct"
    if not ct_path.exists():
        raise InputError(folder, "no ct.nii.gz or ct/ DICOM folder in this case folder")
    ct = load_ct(ct_path)
    labels = read_mask_on_grid(folder / "labels.nii.gz", ct)
    fracture = read_mask_on_grid(folder / "fracture.nii.gz", ct) if (folder / "fracture.nii.gz").exists() else None
    truth_path = folder / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    case_id = str(truth.pop("case_id", folder.name))
    return LabelledCase(case_id, ct, labels, fracture, truth)

