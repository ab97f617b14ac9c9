"""``segmentation.dcm``: a DICOM Segmentation (highdicom) referencing the source CT series.

Written only when the input was a DICOM series. One segment per present level, coded with its
SNOMED CT category and type (:mod:`SpineFractureLib.terminology`) and the level's colour. The
frames lie on the input grid; where loading had to resample the series (uneven spacing, gantry
tilt) their positions are given explicitly, so the SEG still overlays the CT exactly.

Identifiers: highdicom copies the patient and study modules from the source so that the SEG
belongs to the study. DESIGN asks for no identifiers beyond what referencing the study needs:
the study and series UIDs and the referenced instances stay; the patient's name, ID, birth
date and the accession number are emptied (the Patient module's attributes are Type 2: present,
may be empty).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .. import __version__
from ..constants import LEVELS
from ..io.staging import staged_file
from ..terminology import CATEGORY, LEVEL_CODES, LEVEL_COLOURS
from ..volume import CTVolume

#: Attributes emptied in the SEG (see the module docstring).
EMPTIED = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName",
           "OtherPatientIDs", "OtherPatientNames", "PatientAddress")
#: Where a frame may lie from its source slice (mm) and still be taken as that slice.
SAME_POSITION_MM = 0.01


def _codes(level: str):
    from pydicom.sr.coding import Code

    code, meaning = LEVEL_CODES[level]
    return Code(CATEGORY[1], "SCT", CATEGORY[2]), Code(code, "SCT", meaning)


def _cielab(rgb: tuple[float, float, float]):
    import highdicom as hd

    return hd.color.CIELabColor.from_rgb(*(int(round(255 * c)) for c in rgb))


def _on_source_slices(grid: CTVolume, datasets: list) -> bool:
    """True when the grid's slices are the source slices themselves (no resampling at load)."""
    if len(datasets) != grid.array.shape[0]:
        return False
    k = np.arange(len(datasets), dtype=float)
    ours = grid.index_to_lps(np.stack([np.zeros_like(k), np.zeros_like(k), k], axis=1))
    theirs = np.array([[float(x) for x in ds.ImagePositionPatient] for ds in datasets])
    return bool(np.abs(ours - theirs).max() <= SAME_POSITION_MM)


def build_dicom_seg(grid: CTVolume, labels: np.ndarray, algorithm: str = "SpineFracture"):
    """The DICOM SEG dataset of a label map on a DICOM CT's grid.

    Args:
        grid: the CT as loaded from DICOM (``source_files`` in the order of its k axis).
        labels: (z, y, x) labels on ``grid``, 1..7 = C1..C7.
        algorithm: the algorithm name recorded in each segment.

    Returns:
        A ``highdicom.seg.Segmentation``, or None when no level is present.

    Raises:
        ValueError: the CT did not come from DICOM, or the labels are not on its grid.
    """
    import highdicom as hd
    import pydicom

    if not grid.source_files:
        raise ValueError("a DICOM SEG needs the source DICOM series (the CT was not read from DICOM)")
    if labels.shape != grid.array.shape:
        raise ValueError(f"labels {labels.shape} are not on the CT's grid {grid.array.shape}")
    present = [v for v in range(1, len(LEVELS) + 1) if np.any(labels == v)]
    if not present:
        return None
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in grid.source_files]
    # Segment numbers must run 1..n: renumber when levels are absent.
    numbered = np.zeros(labels.shape, np.uint8)
    descriptions = []
    algo = hd.AlgorithmIdentificationSequence(name=algorithm, version=__version__,
                                              family=hd.sr.CodedConcept("123109", "DCM", "Artificial Intelligence"))
    for number, value in enumerate(present, start=1):
        numbered[labels == value] = number
        level = LEVELS[value - 1]
        category, kind = _codes(level)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=level, segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algo, tracking_uid=hd.UID(), tracking_id=f"{level} vertebra",
            display_color=_cielab(LEVEL_COLOURS[value - 1])))
    extra = {}
    if not _on_source_slices(grid, datasets):
        m = grid.ijk_to_lps()
        extra = {
            "pixel_measures": hd.PixelMeasuresSequence(pixel_spacing=(grid.spacing[1], grid.spacing[0]),
                                                       slice_thickness=grid.spacing[2]),
            "plane_orientation": hd.PlaneOrientationSequence(
                coordinate_system="PATIENT", image_orientation=[*grid.direction[:, 0], *grid.direction[:, 1]]),
            "plane_positions": [hd.PlanePositionSequence(coordinate_system="PATIENT",
                                                         image_position=list(m[:3, :3] @ [0, 0, k] + m[:3, 3]))
                                for k in range(labels.shape[0])],
        }
    with warnings.catch_warnings():
        # highdicom checks the source's PatientName form; the SEG empties it anyway (EMPTIED).
        warnings.filterwarnings("ignore", message=".*person name.*", category=UserWarning)
        seg = _segmentation(hd, datasets, numbered, descriptions, extra)
    for keyword in EMPTIED:
        if keyword in seg:
            setattr(seg, keyword, "")
    return seg


def _segmentation(hd, datasets, numbered, descriptions, extra):
    return hd.seg.Segmentation(
        source_images=datasets, pixel_array=numbered, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SpineFracture",
        manufacturer_model_name="SpineFracture research (phantom-trained)",
        software_versions=__version__, device_serial_number="none", series_description="SpineFracture C1-C7",
        content_label="VERTEBRAE", omit_empty_frames=True, **extra)


def write_dicom_seg(path: str | os.PathLike, grid: CTVolume, labels: np.ndarray) -> Path | None:
    """Write ``segmentation.dcm`` (atomically); None (nothing written) when no level is present."""
    seg = build_dicom_seg(grid, labels)
    if seg is None:
        return None
    with staged_file(path) as tmp:
        seg.save_as(str(tmp))
    return Path(path)


__all__ = ["EMPTIED", "build_dicom_seg", "write_dicom_seg"]
