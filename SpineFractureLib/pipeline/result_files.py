"""The result files of DESIGN §4 written into a folder: one writer for ``analyze`` and the Slicer review.

Kept apart from :mod:`.outputs` so that the Slicer module's export imports no network code.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..export.dicom_seg import write_dicom_seg
from ..export.findings import Findings, write_findings
from ..export.seg_nrrd import write_seg_nrrd
from ..export.volumes import write_heatmap, write_labels
from ..report.report_html import write_report_html
from ..report.report_png import save_report_png
from ..volume import CTVolume

log = logging.getLogger(__name__)


def write_result_files(folder: str | os.PathLike, ct: CTVolume, labels: np.ndarray, heat: np.ndarray | None,
                       findings: Findings, *, decisions: list[bool | None] | None = None, title: str = "",
                       seg_nrrd: Callable[[Path], Path] | None = None, export_in_total: bool = True) -> list[Path]:
    """Write the result files of DESIGN §4 into an existing folder, each one atomically.

    The one writer of ``analyze``'s outputs and of the Slicer module's review export: labels
    (NIfTI, .seg.nrrd, DICOM SEG when ``ct`` came from DICOM files), the heat map, report.png,
    findings.json/.csv (with the export time added to the timings) and report.html.

    Args:
        folder: the output folder (it must exist).
        ct: the CT (its grid is the output grid; ``source_files`` set for a DICOM SEG).
        labels: uint8 (z, y, x) C1..C7 labels on ``ct``'s grid.
        heat: the heat map 0..1 (z, y, x) on ``ct``'s grid, or None.
        findings: the findings; a DICOM SEG that cannot be written adds a warning to them.
        decisions: per level C1..C7, the decisions drawn in report.png (default: the findings').
        title: report.png's title (never patient identifiers).
        seg_nrrd: writes ``segmentation.seg.nrrd`` to the path it is given (default: the library's
            writer on ``labels``; the Slicer module passes Slicer's own storage node).
        export_in_total: add the export time to ``timings_s["total"]`` (False for a later
            re-export, whose total stays the analysis's).

    Returns:
        The files written.
    """
    folder = Path(folder)
    t0 = time.perf_counter()
    seg_path = folder / "segmentation.seg.nrrd"
    written = [write_labels(folder / "segmentation.nii.gz", ct, labels),
               seg_nrrd(seg_path) if seg_nrrd is not None else write_seg_nrrd(seg_path, ct, labels)]
    if ct.source_files:
        try:
            dicom = write_dicom_seg(folder / "segmentation.dcm", ct, labels)
            if dicom is None:
                log.info("no level present: no DICOM SEG written")
            else:
                written.append(dicom)
        except ValueError as err:  # a source series the SEG standard cannot reference
            findings.warnings.append(f"no DICOM SEG written: {err}")
            log.warning("no DICOM SEG written: %s", err)
    if heat is not None:
        written.append(write_heatmap(folder / "gradcam.nii.gz", ct, heat))
    probabilities = [v.fracture_probability for v in findings.vertebrae]
    if decisions is None:
        decisions = [v.fracture for v in findings.vertebrae]
    save_report_png(ct, ct.with_array(labels), heat, probabilities, decisions, findings.threshold,
                    folder / "report.png", title=title)
    written.append(folder / "report.png")
    findings.timings_s["export"] = round(time.perf_counter() - t0, 3)
    if export_in_total:
        findings.timings_s["total"] = round(findings.timings_s.get("total", 0.0) + findings.timings_s["export"], 3)
    written.extend(write_findings(folder, findings))
    written.append(write_report_html(folder / "report.html", findings.to_dict(), folder / "report.png"))
    return written


__all__ = ["write_result_files"]
