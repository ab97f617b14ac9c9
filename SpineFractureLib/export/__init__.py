"""Everything ``analyze`` writes (DESIGN §4), each file atomically: label and heat map NIfTI,
Slicer ``.seg.nrrd``, DICOM SEG, findings.json / findings.csv."""

from .dicom_seg import write_dicom_seg
from .findings import Findings, VertebraFinding, add_measurements, validate_findings, write_findings
from .seg_nrrd import write_seg_nrrd
from .volumes import write_heatmap, write_labels

__all__ = ["Findings", "VertebraFinding", "add_measurements", "validate_findings", "write_dicom_seg", "write_findings", "write_heatmap",
           "write_labels", "write_seg_nrrd"]
