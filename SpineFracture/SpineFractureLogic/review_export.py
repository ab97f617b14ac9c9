"""Export a reviewed (and possibly corrected) result: the files of DESIGN §4 plus, for annotators,
a training case in the case-folder layout that ``train-seg --data`` and ``train-cls --data`` read.

The segmentation written is the node as the user left it, never the original prediction. Every file
is written under a temporary name and renamed into place; files of the same name already in the
folder are refused unless ``overwrite``, so a chosen folder that holds other things loses nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import slicer

from .analysis import edited_since_classified
from .findings_table import reviewed_fracture, table_findings
from .segments import labels_from_segmentation_node
from .volumes import ct_from_volume_node

logger = logging.getLogger(__name__)

EXPORT_FILES = ("segmentation.seg.nrrd", "segmentation.nii.gz", "segmentation.dcm", "gradcam.nii.gz",
                "findings.json", "findings.csv", "report.png", "report.html")
EDITED_WARNING = ("the segmentation was edited after the last classification: probabilities and "
                  "measurements are those of the earlier masks (press Reclassify to update them)")


def export_review(
    folder: str | os.PathLike,
    ct_node: slicer.vtkMRMLScalarVolumeNode,
    segmentation_node: slicer.vtkMRMLSegmentationNode,
    table_node: slicer.vtkMRMLTableNode,
    heatmap_node: slicer.vtkMRMLScalarVolumeNode | None = None,
    dicom_files: list[str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the reviewed result into ``folder``.

    Args:
        folder: the output folder (created if missing).
        ct_node: the CT.
        segmentation_node: the (edited) segmentation; written as Slicer writes it (.seg.nrrd) and
            rasterised on the CT grid (NIfTI, DICOM SEG).
        table_node: the findings table, with the threshold and reviews to export.
        heatmap_node: the Grad-CAM node, or None.
        dicom_files: the CT's DICOM files when it was loaded from DICOM (for the DICOM SEG).
        overwrite: replace files of the same names.

    Returns:
        The files written.

    Raises:
        FileExistsError: a file to write exists and ``overwrite`` is False (nothing was written).
    """
    from SpineFractureLib.io.staging import staged_file
    from SpineFractureLib.pipeline.result_files import write_result_files

    folder = Path(folder)
    clashes = [n for n in EXPORT_FILES if (folder / n).exists()]
    if clashes and not overwrite:
        raise FileExistsError(f"{folder}: already holds {', '.join(clashes)} (choose another folder or overwrite)")
    grid = ct_from_volume_node(ct_node)
    labels, ignored = labels_from_segmentation_node(segmentation_node, ct_node)
    findings = table_findings(table_node)
    if edited_since_classified(segmentation_node, ct_node) and EDITED_WARNING not in findings.warnings:
        findings.warnings.append(EDITED_WARNING)
    if ignored:
        findings.warnings.append(f"segments without a level name not exported as labels: {', '.join(ignored)}")

    def write_seg_nrrd(target: Path) -> Path:
        # The node as the user left it, written by Slicer itself (its own segment names, colours and
        # terminology, and any representation the library's writer does not know).
        with staged_file(target) as tmp:
            storage = slicer.vtkMRMLSegmentationStorageNode()
            storage.SetFileName(str(tmp))
            if not storage.WriteData(segmentation_node):
                raise RuntimeError(f"could not write {target}")
        return target

    if dicom_files:
        grid = grid.with_array(grid.array, source_files=list(dicom_files))
    heat = ct_from_volume_node(heatmap_node).array if heatmap_node is not None else None
    decisions = [reviewed_fracture(v) if v.review else v.fracture for v in findings.vertebrae]
    written = write_result_files(folder, grid, labels, heat, findings, decisions=decisions,
                                 title="SpineFracture review", seg_nrrd=write_seg_nrrd, export_in_total=False)
    logger.info("exported %d files to %s", len(written), folder)
    return written


def export_training_case(
    root: str | os.PathLike,
    case_id: str,
    ct_node: slicer.vtkMRMLScalarVolumeNode,
    segmentation_node: slicer.vtkMRMLSegmentationNode,
    table_node: slicer.vtkMRMLTableNode | None = None,
) -> Path:
    """Write the corrected case as a training case folder ``root/case_id``.

    The folder holds ``ct.nii.gz``, ``labels.nii.gz`` (the edited segments) and ``truth.json``: a
    level is present when it has a segment; its fracture label is the reader's verdict (the
    decision when accepted, its opposite when rejected) and is left out, so unknown to training,
    when the level was not reviewed.

    Raises:
        ValueError: ``case_id`` is not a plain folder name.
    """
    from SpineFractureLib.constants import LEVELS
    from SpineFractureLib.data.case import LabelledCase
    from SpineFractureLib.data.case_io import write_case

    if not case_id or Path(case_id).name != case_id or case_id.startswith("."):
        raise ValueError(f"case id must be a plain folder name, got {case_id!r}")
    grid = ct_from_volume_node(ct_node)
    labels, _ignored = labels_from_segmentation_node(segmentation_node, ct_node)
    present = {LEVELS[int(v) - 1] for v in set(labels.ravel().tolist()) if v}
    levels: dict[str, dict] = {}
    findings = table_findings(table_node) if table_node is not None else None
    for level in LEVELS:
        entry: dict = {"present": level in present}
        verdict = reviewed_fracture(findings.level(level)) if findings is not None else None
        if level in present and verdict is not None:
            entry["fractured"] = verdict
        levels[level] = entry
    verdicts = [e["fractured"] for e in levels.values() if "fractured" in e]
    truth: dict = {"levels": levels, "source": "SpineFracture review in 3D Slicer"}
    if any(verdicts):
        truth["patient_fractured"] = True
    elif verdicts and len(verdicts) == len(present):
        truth["patient_fractured"] = False
    case = LabelledCase(case_id, grid, grid.with_array(labels), None, truth)
    return write_case(case, Path(root) / case_id)


__all__ = ["EDITED_WARNING", "EXPORT_FILES", "export_review", "export_training_case"]
