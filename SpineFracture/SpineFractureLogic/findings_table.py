"""The findings of one analysis as a MRML table node, with the review state kept on the node.

The node carries the whole findings document (attribute :data:`FINDINGS_ATTRIBUTE`, the JSON of
``SpineFractureLib.export.findings.Findings``); its seven rows (C1..C7) are a view of that document.
Changing the threshold or a level's review updates the document first and redraws the rows, so the
table, a saved scene and an export always agree. Decisions are recomputed from the stored
probabilities: moving the threshold never reruns a network.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import vtk

import slicer

if TYPE_CHECKING:
    from SpineFractureLib.export.findings import Findings, VertebraFinding

logger = logging.getLogger(__name__)

FINDINGS_ATTRIBUTE = "SpineFracture.Findings"
REVIEWS = (None, "accepted", "rejected")
#: (column name, title, unit) of the table, in order.
COLUMNS = (
    ("level", "Level", ""), ("present", "Present", ""), ("probability", "Fracture probability", ""),
    ("decision", "Decision", ""), ("review", "Review", ""), ("genant", "Genant grade", ""),
    ("height_loss", "Height loss", "%"), ("anterior", "Anterior height", "mm"), ("middle", "Middle height", "mm"),
    ("posterior", "Posterior height", "mm"), ("volume", "Volume", "mL"), ("mean_hu", "Mean HU", "HU"),
)


def findings_table_node(
    scene: slicer.vtkMRMLScene,
    findings: Findings,
    name: str = "SpineFracture findings",
    node: slicer.vtkMRMLTableNode | None = None,
) -> slicer.vtkMRMLTableNode:
    """Show findings in a table node (new, or ``node`` refilled after a reclassification).

    Reviews already made on ``node`` are kept for levels that are still present: a corrected mask
    does not erase what the reader decided.

    Returns:
        The table node; one row per level C1..C7, absent levels with empty cells.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
        for column, title, unit in COLUMNS:
            array = vtk.vtkStringArray()
            array.SetName(column)
            node.AddColumn(array)
            node.SetColumnTitle(column, title)
            if unit:
                node.SetColumnUnitLabel(column, unit)
        node.SetUseColumnTitleAsColumnHeader(True)
        node.SetLocked(True)  # edits go through set_review / set_threshold, never typed into cells
    else:
        previous = table_findings(node)
        for old, new in zip(previous.vertebrae, findings.vertebrae):
            if new.present and old.review is not None:
                new.review = old.review
    _store(node, findings)
    return node


def table_findings(node: slicer.vtkMRMLTableNode) -> Findings:
    """The findings document the table shows, with its current threshold and reviews.

    Raises:
        ValueError: the node is not a SpineFracture findings table.
    """
    from SpineFractureLib.export.findings import Findings

    text = node.GetAttribute(FINDINGS_ATTRIBUTE) if node is not None else None
    if not text:
        raise ValueError("not a SpineFracture findings table")
    return Findings.from_dict(json.loads(text))


def set_threshold(node: slicer.vtkMRMLTableNode, threshold: float) -> Findings:
    """Apply a new decision threshold (0..1) to every level and the patient, without rerunning.

    The operating point becomes "user". Without a classifier (no probabilities) nothing changes.

    Returns:
        The updated findings.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    findings = table_findings(node)
    if findings.threshold is None:
        return findings
    findings.threshold = round(float(threshold), 6)
    findings.operating_point = "user"
    for v in findings.vertebrae:
        if v.fracture_probability is not None:
            v.fracture = bool(v.fracture_probability >= threshold)
    p = findings.patient.get("fracture_probability")
    if p is not None:
        findings.patient["fracture"] = bool(p >= threshold)
        findings.patient["threshold"] = findings.threshold
    _store(node, findings)
    return findings


def set_review(node: slicer.vtkMRMLTableNode, level: str, review: str | None) -> Findings:
    """Mark a present level's finding accepted, rejected, or not reviewed (None).

    Raises:
        ValueError: an unknown review value, or the level is absent.
    """
    if review not in REVIEWS:
        raise ValueError(f"review must be one of {REVIEWS}, got {review!r}")
    findings = table_findings(node)
    entry = findings.level(level)
    if not entry.present:
        raise ValueError(f"{level} is not present; there is no finding to review")
    entry.review = review
    _store(node, findings)
    return findings


def level_at_row(node: slicer.vtkMRMLTableNode, row: int) -> str:
    """The level ("C1".."C7") shown in a table row."""
    return node.GetCellText(row, 0)


def reviewed_fracture(v: VertebraFinding) -> bool | None:
    """What the reader's review makes of a level: the decision if accepted, its opposite if
    rejected, None if not reviewed (or no decision to review)."""
    if v.fracture is None or v.review is None:
        return None
    return v.fracture if v.review == "accepted" else not v.fracture


def _store(node: slicer.vtkMRMLTableNode, findings: Findings) -> None:
    node.SetAttribute(FINDINGS_ATTRIBUTE, json.dumps(findings.to_dict()))
    table = node.GetTable()
    rows = [_row(v) for v in findings.vertebrae]
    for c, (column, _title, _unit) in enumerate(COLUMNS):
        array = table.GetColumnByName(column)
        array.SetNumberOfValues(len(rows))
        for r, row in enumerate(rows):
            array.SetValue(r, row[c])
    table.Modified()
    node.Modified()


def _row(v: VertebraFinding) -> list[str]:
    heights = v.heights_mm or {}
    decision = "" if v.fracture is None else ("fracture" if v.fracture else "no fracture")
    return [v.level, "yes" if v.present else "no", _fmt(v.fracture_probability, 2), decision, v.review or "",
            _fmt(v.genant_grade, 0), _fmt(None if v.height_loss is None else 100.0 * v.height_loss, 0),
            _fmt(heights.get("anterior"), 1), _fmt(heights.get("middle"), 1), _fmt(heights.get("posterior"), 1),
            _fmt(v.volume_ml, 1), _fmt(v.mean_hu, 0)]


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return ""
    return str(int(value)) if digits == 0 else f"{value:.{digits}f}"


__all__ = ["COLUMNS", "FINDINGS_ATTRIBUTE", "REVIEWS", "findings_table_node", "level_at_row", "reviewed_fracture",
           "set_review", "set_threshold", "table_findings"]
