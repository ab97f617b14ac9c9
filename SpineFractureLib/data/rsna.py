"""The RSNA 2022 Cervical Spine Fracture Detection (Kaggle) layout: reader and dataset (writer: :mod:`.rsna_write`).

Layout (Kaggle competition "rsna-2022-cervical-spine-fracture-detection", data page)::

    train.csv                    StudyInstanceUID, patient_overall, C1..C7 (0/1)
    train_bounding_boxes.csv     StudyInstanceUID, x, y, width, height, slice_number
    train_images/<UID>/<n>.dcm   one axial slice per file, n = InstanceNumber (from 1)
    segmentations/<UID>.nii      uncompressed NIfTI, 1..7 = C1..C7, 8..19 = T1..T12, 0 elsewhere
                                 (87 of the 2019 training studies have one)

The bounding boxes are in pixel coordinates of the DICOM slice named ``slice_number``: ``x`` is
the column and ``y`` the row of the top-left corner, ``width`` along columns, ``height`` along
rows (RSNA's own values are floats; ours are whole pixels).

**Slice numbering.** In most RSNA studies ``1.dcm`` is the most superior slice: instance numbers
run head to feet against ImagePositionPatient z. A minority run the other way; the 3rd-place
solution measures the z direction per study before using the segmentations
(darraghdog/RSNA22, ``scripts/_make_seg_labels_part1.py``: ``zdirndf``), and another public
pipeline keeps a "reverse list" of studies that run "feet → head instead of head → feet"
(``is_reverse`` beside a ``load_nii`` that applies the flip below). The writer numbers head first
by default (``head_first_instances``); the reader never relies on numbering (load_ct orders slices
by position).

The segmentation quirk (how RSNA's .nii files are stored relative to the DICOM slices) is
documented and implemented in :mod:`.rsna_quirk`.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom

from ..errors import InputError
from ..io import load_ct
from ..io.nifti_check import check_nifti
from ..volume import CTVolume
from .case import LEVELS, LabelledCase
from .rsna_quirk import rsna_array_to_labels, rsna_nifti_affine

log = logging.getLogger(__name__)

TRAIN_CSV = "train.csv"
BOXES_CSV = "train_bounding_boxes.csv"
IMAGES_DIR = "train_images"
SEGMENTATIONS_DIR = "segmentations"
TRAIN_COLUMNS: tuple[str, ...] = ("StudyInstanceUID", "patient_overall", *LEVELS)
BOX_COLUMNS: tuple[str, ...] = ("StudyInstanceUID", "x", "y", "width", "height", "slice_number")
#: Largest label RSNA uses (T12).
MAX_LABEL = 19


# ----------------------------------------------------------------------------------------- reading

Box = tuple[float, float, float, float, int]  # x, y, width, height, slice_number


def segmentation_path(root: str | os.PathLike, uid: str) -> Path:
    """Where the segmentation of study ``uid`` lives (it may not exist)."""
    return Path(root) / SEGMENTATIONS_DIR / f"{uid}.nii"


def has_segmentation(root: str | os.PathLike, uid: str) -> bool:
    """True when study ``uid`` has a segmentation file (87 of the 2019 RSNA training studies)."""
    return segmentation_path(root, uid).is_file()


def read_rsna_study(root: str | os.PathLike, uid: str) -> tuple[CTVolume, dict[str, Any]]:
    """The CT and train.csv truth of one study, with or without a segmentation.

    Returns:
        The CT (load_ct: HU, array (z, y, x), slices ordered feet to head along the normal) and
        ``{"levels": {"C1": {"fractured": bool}, ...}, "patient_fractured": bool}``.

    Raises:
        InputError: naming the file: train.csv or its row missing, study folder missing, bad CT.
    """
    return RSNADataset(root, segmented_only=False).study(uid)


def read_rsna_case(root: str | os.PathLike, uid: str) -> LabelledCase:
    """One segmented RSNA study as a LabelledCase, the segmentation quirk undone.

    Returns:
        The case: ``labels`` voxel-for-voxel on the CT grid (RSNA values, 1..7 C1..C7,
        8..19 T1..T12); ``fracture`` the bounding boxes filled on their slices (None when the
        study has no box); truth ``levels`` {"C1".. {present, fractured}}, ``patient_fractured``.

    Raises:
        InputError: naming the file: missing or unreadable segmentation, segmentation not of the
            CT's size, a box on a slice the study lacks, or any error of :func:`read_rsna_study`.
    """
    return RSNADataset(root, segmented_only=False).case(uid)


class RSNADataset:
    """The studies of an RSNA 2022 training folder as LabelledCases.

    Args:
        root: the dataset folder (train.csv, train_images/, segmentations/, ...).
        segmented_only: list only the studies with a segmentation file (those a LabelledCase can
            be made of); False lists every train.csv study, and indexing one without a
            segmentation raises InputError (use :meth:`study` for those).

    Raises:
        InputError: train.csv missing or malformed, train_bounding_boxes.csv malformed.
    """

    def __init__(self, root: str | os.PathLike, *, segmented_only: bool = True) -> None:
        self.root = Path(root)
        self._train = _read_train_csv(self.root / TRAIN_CSV)
        self._boxes = _read_boxes_csv(self.root / BOXES_CSV)
        uids = list(self._train)
        if segmented_only:
            uids = [u for u in uids if self.has_segmentation(u)]
        self.study_uids: list[str] = uids

    def __len__(self) -> int:
        return len(self.study_uids)

    def __getitem__(self, i: int) -> LabelledCase:
        return self.case(self.study_uids[i])

    def has_segmentation(self, uid: str) -> bool:
        """True when study ``uid`` has a segmentation file."""
        return has_segmentation(self.root, uid)

    def study(self, uid: str) -> tuple[CTVolume, dict[str, Any]]:
        """CT and train.csv truth of any study (see :func:`read_rsna_study`)."""
        if uid not in self._train:
            raise InputError(self.root / TRAIN_CSV, f"no row for study {uid}")
        folder = self.root / IMAGES_DIR / uid
        if not folder.is_dir():
            raise InputError(folder, "study folder missing")
        return load_ct(folder), self._train[uid]

    def case(self, uid: str) -> LabelledCase:
        """One segmented study (see :func:`read_rsna_case`)."""
        seg_path = segmentation_path(self.root, uid)
        if not seg_path.is_file():
            raise InputError(seg_path, "segmentation file missing (only some RSNA studies have one; "
                                       "use read_rsna_study for the others)")
        ct, csv_truth = self.study(uid)
        labels = ct.with_array(_read_segmentation(seg_path, ct), source=str(seg_path))
        present = set(np.unique(labels.array).tolist())
        truth = {
            "levels": {name: {"present": n + 1 in present, **csv_truth["levels"][name]}
                       for n, name in enumerate(LEVELS)},
            "patient_fractured": csv_truth["patient_fractured"],
        }
        fracture = None
        if self._boxes.get(uid):
            boxes_path = self.root / BOXES_CSV
            fracture = ct.with_array(_fill_boxes(self._boxes[uid], ct, boxes_path),
                                     source=str(boxes_path))
        return LabelledCase(case_id=uid, ct=ct, labels=labels, fracture=fracture, truth=truth)


def classification_case(ds: RSNADataset, uid: str) -> LabelledCase:
    """Any train.csv study for the classifier: with its mask where it has one, else an empty one.

    A study without a segmentation file gets an all-zero label map and ``truth["has_mask"] =
    False``: the classifier then trains on the mask the segmentation model predicts for it, as
    the RSNA 2022 winners did (only 87 of 2019 studies have a drawn mask).

    Raises:
        InputError: as :meth:`RSNADataset.study` and :meth:`RSNADataset.case`.
    """
    if ds.has_segmentation(uid):
        case = ds.case(uid)
        case.truth["has_mask"] = True
        return case
    ct, csv_truth = ds.study(uid)
    truth = {"levels": {name: dict(csv_truth["levels"][name]) for name in LEVELS},
             "patient_fractured": csv_truth["patient_fractured"], "has_mask": False}
    return LabelledCase(case_id=uid, ct=ct, labels=ct.with_array(np.zeros(ct.array.shape, np.uint8)), truth=truth)


def missing_studies(ds: RSNADataset) -> list[str]:
    """train.csv studies whose ``train_images/<UID>`` folder is absent."""
    return [u for u in ds.study_uids if not (ds.root / IMAGES_DIR / u).is_dir()]


def _read_train_csv(path: Path) -> dict[str, dict[str, Any]]:
    """train.csv as ``{uid: {"levels": {"C1": {"fractured": bool}, ..}, "patient_fractured"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(_read_csv(path, TRAIN_COLUMNS), start=2):
        flags = {}
        for c in TRAIN_COLUMNS[1:]:
            if row[c].strip() not in ("0", "1", "0.0", "1.0"):
                raise InputError(path, f"line {n}: {c} is {row[c]!r}, expected 0 or 1")
            flags[c] = row[c].strip().startswith("1")
        out[row["StudyInstanceUID"]] = {
            "levels": {name: {"fractured": flags[name]} for name in LEVELS},
            "patient_fractured": flags["patient_overall"],
        }
    return out


def _read_boxes_csv(path: Path) -> dict[str, list[Box]]:
    """train_bounding_boxes.csv per study; no file means no study has boxes."""
    out: dict[str, list[Box]] = {}
    if not path.is_file():
        return out
    for n, row in enumerate(_read_csv(path, BOX_COLUMNS), start=2):
        try:
            box = (float(row["x"]), float(row["y"]), float(row["width"]), float(row["height"]),
                   int(float(row["slice_number"])))
        except ValueError as exc:
            raise InputError(path, f"line {n}: not a number ({exc})") from exc
        out.setdefault(row["StudyInstanceUID"], []).append(box)
    return out


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(path, "file missing")
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, f"missing column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"unreadable CSV ({exc.__class__.__name__})") from exc


def _read_segmentation(path: Path, ct: CTVolume) -> np.ndarray:
    """The RSNA .nii as a uint8 (z, y, x) array on ``ct``'s grid."""
    check_nifti(path)
    try:
        image = nib.load(path, mmap=False)  # no mapping left open on the file (Windows locks it)
        raw = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises several types for a bad file
        raise InputError(path, f"not a readable NIfTI file ({exc.__class__.__name__})") from exc
    if raw.ndim == 4 and raw.shape[3] == 1:
        raw = raw[..., 0]
    if raw.ndim != 3:
        raise InputError(path, f"is {raw.ndim}D; a segmentation is 3D")
    labels = rsna_array_to_labels(raw)
    if labels.shape != ct.array.shape:
        raise InputError(path, f"segmentation of {tuple(raw.shape)} voxels (file order) does not "
                               f"fit the CT of {ct.shape_xyz} (columns, rows, slices)")
    if labels.size and (labels.min() < 0 or labels.max() > MAX_LABEL
                        or not np.array_equal(labels, np.round(labels))):
        raise InputError(path, f"values are not whole labels in 0..{MAX_LABEL}")
    corners = np.array([[0, 0, 0, 1], [*(s - 1 for s in raw.shape), 1]], dtype=float).T
    offset = float(np.abs((image.affine - rsna_nifti_affine(ct)) @ corners).max())
    if offset > 0.5 * min(ct.spacing):
        # RSNA files are known by their array layout; the header is only a cross-check.
        msg = (f"{path.name}: header geometry differs from the CT by up to {offset:.1f} mm; "
               "labels placed by the RSNA array layout")
        log.warning(msg)
        ct.warnings.append(msg)
    return labels.astype(np.uint8)


def _fill_boxes(boxes: list[Box], ct: CTVolume, path: Path) -> np.ndarray:
    """A (z, y, x) uint8 mask with each box filled on the slice of its slice_number."""
    k_of = {n: k for k, n in enumerate(_instance_numbers(ct))}
    mask = np.zeros(ct.array.shape, dtype=np.uint8)
    rows, cols = ct.array.shape[1:]
    for x, y, w, h, number in boxes:
        if number not in k_of:
            raise InputError(path, f"box on slice_number {number}, which the study does not have")
        r0, r1 = max(int(np.floor(y)), 0), min(int(np.ceil(y + h)), rows)
        c0, c1 = max(int(np.floor(x)), 0), min(int(np.ceil(x + w)), cols)
        mask[k_of[number], r0:r1, c0:c1] = 1
    return mask


def _instance_numbers(ct: CTVolume) -> list[int]:
    """slice_number of each k-slice: the file name (RSNA's ``<n>.dcm``), else InstanceNumber."""
    if len(ct.source_files) != ct.array.shape[0]:
        raise InputError(ct.source, "slices were resampled on load; bounding boxes cannot be placed")
    return [int(Path(f).stem) if Path(f).stem.isdigit()
            else int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber)
            for f in ct.source_files]


__all__ = [
    "BOX_COLUMNS", "BOXES_CSV", "IMAGES_DIR", "RSNADataset", "SEGMENTATIONS_DIR", "TRAIN_COLUMNS", "TRAIN_CSV",
    "has_segmentation", "read_rsna_case", "read_rsna_study", "segmentation_path",
]
