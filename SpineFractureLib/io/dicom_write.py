"""Writing a CTVolume as a DICOM series of single-slice CT (or MR, for tests) images.

Written with pydicom because SimpleITK's series writer leaves out much of the CT Image IOD
(frame of reference, rescale type, consistent UIDs) that highdicom and PACS need downstream.
Only synthetic identifiers are written: this writer is for phantoms and derived test data.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .. import __version__
from ..constants import HU_AIR
from ..volume import CTVolume

SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
}


def write_dicom_series(
    volume: CTVolume,
    folder: str | os.PathLike,
    *,
    modality: str = "CT",
    series_description: str = "SpineFracture phantom",
    patient_id: str = "PHANTOM",
    study_uid: str | None = None,
    series_uid: str | None = None,
    rescale_intercept: float = HU_AIR,
    head_first_instances: bool = False,
    name_pattern: str = "{instance:04d}.dcm",
    uid_seed: str | None = None,
) -> list[Path]:
    """Write ``volume`` as one file per k-slice.

    Args:
        volume: the CT in HU, array (z, y, x); its direction must be orthonormal (DICOM needs it).
        folder: created if missing; files are written into it.
        modality: "CT" (default) or "MR" (to test refusal of non-CT input).
        series_description: SeriesDescription of the series.
        patient_id: synthetic PatientID and PatientName; never a real identifier.
        study_uid: StudyInstanceUID; generated when None.
        series_uid: SeriesInstanceUID; generated when None.
        rescale_intercept: stored value = HU - intercept (slope 1), stored as uint16.
        head_first_instances: number instances from the last k-slice backwards (so InstanceNumber
            and file names run against the slice positions, as in many real series).
        name_pattern: file name per slice; ``{instance}`` is the InstanceNumber (from 1).
        uid_seed: when given, UIDs are derived from it so the same input gives identical files.

    Returns:
        Paths written, in k order.
    """
    if modality not in SOP_CLASS:
        raise ValueError(f"modality must be one of {sorted(SOP_CLASS)}, got {modality!r}")
    d = volume.direction
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-4):
        raise ValueError("DICOM needs an orthonormal direction matrix")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def uid(tag: str) -> str:
        return generate_uid(entropy_srcs=[uid_seed, tag]) if uid_seed is not None else generate_uid()

    study_uid = study_uid or uid("study")
    series_uid = series_uid or uid("series")
    frame_uid = uid("frame")
    stored = np.clip(np.rint(volume.array - rescale_intercept), 0, 65535).astype(np.uint16)
    nz = stored.shape[0]
    sx, sy, sz = volume.spacing
    date = datetime.date(2026, 1, 1).strftime("%Y%m%d")  # fixed: files must be reproducible

    paths = []
    for k in range(nz):
        instance = nz - k if head_first_instances else k + 1
        position = volume.index_to_lps(np.array([0.0, 0.0, float(k)]))
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS[modality]
        ds.file_meta.MediaStorageSOPInstanceUID = uid(f"sop{k}")
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = SOP_CLASS[modality]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.Modality = modality
        ds.PatientName, ds.PatientID = patient_id, patient_id
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
        ds.Manufacturer = "SpineFracture"
        ds.SoftwareVersions = __version__
        ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = 1, instance, 1
        ds.SeriesDescription = series_description
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*d[:, 0], *d[:, 1])]
        ds.PixelSpacing = [f"{sy:.6f}", f"{sx:.6f}"]  # (row step, column step)
        ds.SliceThickness = f"{sz:.4f}"
        ds.SliceLocation = f"{position @ d[:, 2]:.4f}"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = f"{rescale_intercept:g}", "1"
        if modality == "CT":
            ds.RescaleType, ds.KVP = "HU", "120"
        ds.WindowCenter, ds.WindowWidth = "400", "1800"
        ds.PixelData = stored[k].tobytes()
        path = folder / name_pattern.format(instance=instance)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

