"""Write an :class:`~.analyze.Analysis` into its output folder (DESIGN §4).

The folder is built under a temporary name beside the target and renamed into place when every
file is written: a crash leaves no half folder, and ``--overwrite`` replaces an old one only once
the new one is complete. An existing folder that is not empty is refused without ``overwrite``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..errors import InputError
from ..export.dicom_seg import write_dicom_seg
from ..export.findings import write_findings
from ..export.seg_nrrd import write_seg_nrrd
from ..export.volumes import write_heatmap, write_labels
from ..io.staging import staged_dir
from ..report.report_html import write_report_html
from ..report.report_png import save_report_png
from .analyze import Analysis

log = logging.getLogger(__name__)


def check_out_dir(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse an output folder that exists and is not empty, unless ``overwrite``.

    Raises:
        InputError: the folder holds files, or the path is a file.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(out, "exists and is not empty (pass --overwrite to replace it)")


def write_outputs(analysis: Analysis, out: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Write every output of one analysis into ``out``; returns the files written (final paths).

    Raises:
        InputError: ``out`` exists and is not empty and ``overwrite`` is False.
    """
    check_out_dir(out, overwrite)
    out = Path(out)
    t0 = time.perf_counter()
    f = analysis.findings
    names = []
    with staged_dir(out) as tmp:
        labels = analysis.labels.array
        write_labels(tmp / "segmentation.nii.gz", analysis.ct, labels)
        write_seg_nrrd(tmp / "segmentation.seg.nrrd", analysis.ct, labels)
        if analysis.ct.source_files:
            try:
                if write_dicom_seg(tmp / "segmentation.dcm", analysis.ct, labels) is None:
                    log.info("no level present: no DICOM SEG written")
            except ValueError as err:  # a source series the SEG standard cannot reference
                f.warnings.append(f"no DICOM SEG written: {err}")
                log.warning("no DICOM SEG written: %s", err)
        if analysis.heatmap is not None:
            write_heatmap(tmp / "gradcam.nii.gz", analysis.ct, analysis.heatmap)
        probabilities = [v.fracture_probability for v in f.vertebrae]
        decisions = [v.fracture for v in f.vertebrae]
        save_report_png(analysis.ct, analysis.labels, analysis.heatmap, probabilities, decisions, f.threshold,
                        tmp / "report.png")
        f.timings_s["export"] = round(time.perf_counter() - t0, 3)
        f.timings_s["total"] = round(f.timings_s.get("total", 0.0) + f.timings_s["export"], 3)
        write_findings(tmp, f)
        write_report_html(tmp / "report.html", f.to_dict(), tmp / "report.png")
        names = sorted(p.name for p in tmp.iterdir())
    return [out / n for n in names]


__all__ = ["check_out_dir", "write_outputs"]
