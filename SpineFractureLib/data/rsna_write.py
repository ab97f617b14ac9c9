"""Writing the RSNA 2022 layout (train.csv, train_bounding_boxes.csv, DICOM slices, segmentations).

The layout, the slice-numbering note and the reader are in :mod:`.rsna`; the segmentation quirk
in :mod:`.rsna_quirk`. Phantoms written here test the reader on RSNA's exact layout.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from pydicom.uid import generate_uid

from ..errors import InputError
from ..io.dicom_write import write_dicom_series
from ..io.staging import staged_dir
from ..volume import CTVolume
from .case import LEVELS, LabelledCase
from .rsna import BOX_COLUMNS, BOXES_CSV, IMAGES_DIR, MAX_LABEL, SEGMENTATIONS_DIR, TRAIN_COLUMNS, TRAIN_CSV
from .rsna_quirk import labels_to_rsna_array, rsna_nifti_affine

log = logging.getLogger(__name__)


def study_uid_for(case_id: str) -> str:
    """The StudyInstanceUID given to a case: derived from its id, so rewriting gives the same UID."""
    return generate_uid(entropy_srcs=[case_id])


def fracture_boxes(fracture: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Per axial slice, the bounding box of a fracture mask.

    Args:
        fracture: mask, axis order (z, y, x); nonzero = fracture.

    Returns:
        ``(k, x, y, width, height)`` per slice ``k`` holding fracture voxels, in pixels:
        ``x`` first column, ``y`` first row, boxes inclusive of their last column and row.
    """
    boxes = []
    for k in np.flatnonzero(np.asarray(fracture).reshape(fracture.shape[0], -1).any(axis=1)):
        rows, cols = np.nonzero(fracture[k])
        boxes.append((int(k), int(cols.min()), int(rows.min()),
                      int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)))
    return boxes


def write_rsna_dataset(cases: Iterable[LabelledCase], root: str | os.PathLike, *,
                       head_first_instances: bool = True) -> None:
    """Write cases as an RSNA 2022 training set, segmentation quirk included.

    The folder is written under a temporary name and renamed at the end, so a failure leaves
    nothing behind; an existing RSNA dataset at ``root`` is replaced.

    Args:
        cases: the cases, each written as one study (all get a segmentation file). Truth used:
            ``truth["levels"][L]["fractured"]`` (absent = 0) and ``truth["patient_fractured"]``
            (absent = any level fractured); ``fracture`` gives the bounding boxes.
        root: the dataset folder.
        head_first_instances: ``1.dcm`` is the slice at the far end of the slice normal (the
            most superior for an axial series), as in most RSNA studies; False numbers upwards.

    Raises:
        InputError: ``root`` exists, is not empty and holds no train.csv (refused, not replaced).
        ValueError: two cases with the same case_id, or labels above 19 (T12).
    """
    root = Path(root)
    if root.is_dir() and any(root.iterdir()) and not (root / TRAIN_CSV).is_file():
        raise InputError(root, "exists and is not an RSNA dataset (no train.csv); "
                               "refusing to replace it")
    train_rows: list[list[Any]] = []
    box_rows: list[list[Any]] = []
    seen: set[str] = set()
    with staged_dir(root) as tmp:
        for case in cases:
            uid = study_uid_for(case.case_id)
            if uid in seen:
                raise ValueError(f"two cases share the case_id {case.case_id!r}")
            seen.add(uid)
            case = slice_ordered(case)
            train_rows.append(_train_row(uid, case.truth))
            box_rows += _write_study(case, uid, tmp, head_first_instances)
        _write_csv(tmp / TRAIN_CSV, TRAIN_COLUMNS, train_rows)
        _write_csv(tmp / BOXES_CSV, BOX_COLUMNS, box_rows)
    log.info("wrote %d RSNA studies to %s", len(train_rows), root)


def slice_ordered(case: LabelledCase) -> LabelledCase:
    """The case with its k axis along the slice normal (row × column), as a DICOM loader returns it.

    A left-handed direction matrix (k pointing against row × column) is made right-handed by
    reversing the slices; anything else is returned unchanged.
    """
    if np.linalg.det(case.ct.direction) > 0:
        return case

    def flip(vol: CTVolume | None) -> CTVolume | None:
        if vol is None:
            return None
        direction = vol.direction.copy()
        direction[:, 2] *= -1.0
        origin = vol.index_to_lps(np.array([0.0, 0.0, vol.array.shape[0] - 1.0]))
        return dataclasses.replace(vol, array=np.ascontiguousarray(vol.array[::-1]),
                                   origin=tuple(origin), direction=direction,
                                   warnings=list(vol.warnings))

    return dataclasses.replace(case, ct=flip(case.ct), labels=flip(case.labels),
                               fracture=flip(case.fracture))


def _train_row(uid: str, truth: dict[str, Any]) -> list[Any]:
    levels = truth.get("levels", {})
    fractured = [int(bool(levels.get(name, {}).get("fractured", False))) for name in LEVELS]
    patient = int(bool(truth.get("patient_fractured", any(fractured))))
    return [uid, patient, *fractured]


def _write_study(case: LabelledCase, uid: str, root: Path, head_first: bool) -> list[list[Any]]:
    """DICOM slices and the segmentation of one case; returns its bounding-box rows."""
    ct = case.ct
    write_dicom_series(ct, root / IMAGES_DIR / uid, study_uid=uid, uid_seed=case.case_id,
                       name_pattern="{instance}.dcm", head_first_instances=head_first,
                       series_description=ct.series_description or "SpineFracture phantom")
    labels = case.labels.array
    if labels.size and (labels.min() < 0 or labels.max() > MAX_LABEL):
        raise ValueError(f"{case.case_id}: labels outside RSNA's 0..{MAX_LABEL}")
    image = nib.Nifti1Image(labels_to_rsna_array(labels.astype(np.uint8)), rsna_nifti_affine(ct))
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    image.header.set_xyzt_units("mm")
    (root / SEGMENTATIONS_DIR).mkdir(exist_ok=True)
    nib.save(image, root / SEGMENTATIONS_DIR / f"{uid}.nii")

    if case.fracture is None:
        return []
    nz = ct.array.shape[0]
    rows = []
    for k, x, y, w, h in fracture_boxes(case.fracture.array):
        instance = nz - k if head_first else k + 1  # as write_dicom_series numbers them
        rows.append([uid, x, y, w, h, instance])
    return sorted(rows, key=lambda r: r[5])


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


__all__ = ["fracture_boxes", "slice_ordered", "study_uid_for", "write_rsna_dataset"]
