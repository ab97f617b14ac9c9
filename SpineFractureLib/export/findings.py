"""``findings.json`` and ``findings.csv``: what one analysis found, in the contract of DESIGN §4.

The JSON is validated against ``findings.schema.json`` (kept in the package) before it is
written; both files are written atomically. Absent levels keep their entry with
``present: false`` and nulls. Nothing identifying the patient is ever put here: the input is
described by its size, spacing, modality and format only.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..constants import LEVELS
from ..io.staging import staged_file
from ..measure import LevelMeasurement

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("findings.schema.json")
OPERATING_POINTS = ("balanced", "triage", "user")
#: Columns of findings.csv, one row per level.
CSV_COLUMNS = ("level", "present", "fracture_probability", "fracture", "review", "genant_grade", "height_loss",
               "height_anterior_mm", "height_middle_mm", "height_posterior_mm", "volume_ml", "mean_hu",
               "centroid_l_mm", "centroid_p_mm", "centroid_s_mm", "peak_slice")


@dataclass
class VertebraFinding:
    """One level's entry (None where absent or not measured). Coordinates are LPS mm."""

    level: str
    present: bool = False
    fracture_probability: float | None = None
    fracture: bool | None = None
    volume_ml: float | None = None
    mean_hu: float | None = None
    heights_mm: dict[str, float | None] | None = None
    height_loss: float | None = None
    genant_grade: int | None = None
    keypoints_lps_mm: dict[str, list[float] | None] | None = None
    centroid_lps_mm: list[float] | None = None
    peak_slice: int | None = None
    peak_lps_mm: list[float] | None = None
    review: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Findings:
    """Everything ``analyze`` / ``classify`` report about one CT.

    Attributes:
        input: {size (i, j, k voxels), spacing_mm, modality, format}.
        model: by task ("segmentation", "classification"): {name, version, sha256, trained_on}.
        threshold: the level decision threshold used, or None without a classifier.
        operating_point: "balanced", "triage" or "user" (None without a classifier).
        vertebrae: seven entries, C1..C7.
        patient: {fracture_probability, fracture, threshold}: ``threshold`` is the patient decision
            threshold, the operating point's own (calibrated on validation apart from the levels'),
            or the user's; files written before it have no such key.
        timings_s: seconds per stage.
        device: what ran the networks ("cpu", "cuda:0", ...).
        warnings: what the reader must know (no cervical spine in view, a cut level, ...).
    """

    input: dict[str, Any]
    model: dict[str, dict[str, str]] = field(default_factory=dict)
    threshold: float | None = None
    operating_point: str | None = None
    vertebrae: list[VertebraFinding] = field(default_factory=lambda: [VertebraFinding(lv) for lv in LEVELS])
    patient: dict[str, Any] = field(
        default_factory=lambda: {"fracture_probability": None, "fracture": None, "threshold": None})
    timings_s: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    warnings: list[str] = field(default_factory=list)

    def level(self, name: str) -> VertebraFinding:
        """The entry of level ``name`` ("C1".."C7")."""
        return self.vertebrae[LEVELS.index(name)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``schema_version`` first)."""
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Findings:
        """Read a document written by :meth:`to_dict` (validated first).

        Raises:
            ValueError: the document does not follow the schema.
        """
        validate_findings(doc)
        body = {k: v for k, v in doc.items() if k != "schema_version"}
        body["vertebrae"] = [VertebraFinding(**v) for v in doc["vertebrae"]]
        return cls(**body)


def add_measurements(findings: Findings, measured: dict[str, LevelMeasurement]) -> None:
    """Mark the measured levels present and copy their measurements in (in place)."""
    for name, m in measured.items():
        v = findings.level(name)
        v.present = True
        v.volume_ml, v.mean_hu, v.heights_mm, v.height_loss = m.volume_ml, m.mean_hu, m.heights_mm, m.height_loss
        v.genant_grade, v.keypoints_lps_mm, v.centroid_lps_mm = m.genant_grade, m.keypoints_lps_mm, m.centroid_lps_mm
        v.notes = list(m.notes)


@lru_cache(maxsize=1)
def findings_schema() -> dict[str, Any]:
    """The JSON Schema of findings.json."""
    return json.loads(SCHEMA_PATH.read_text())


def validate_findings(doc: dict[str, Any]) -> None:
    """Check a findings document against the schema and the level order.

    Raises:
        ValueError: naming the first problem (its place in the document and what is wrong).
    """
    import jsonschema

    try:
        jsonschema.validate(doc, findings_schema())
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise ValueError(f"findings.json does not follow its schema at {where}: {err.message}") from err
    if [v["level"] for v in doc["vertebrae"]] != list(LEVELS):
        raise ValueError("findings.json must list the seven levels C1..C7 in order")


def level_row(v: VertebraFinding) -> dict[str, Any]:
    """One level's findings.csv row (None where absent or not measured); batch's CSV uses it too."""
    heights = v.heights_mm or {}
    centroid = v.centroid_lps_mm or [None, None, None]
    return {"level": v.level, "present": v.present, "fracture_probability": v.fracture_probability,
            "fracture": v.fracture, "review": v.review, "genant_grade": v.genant_grade,
            "height_loss": v.height_loss, "height_anterior_mm": heights.get("anterior"),
            "height_middle_mm": heights.get("middle"), "height_posterior_mm": heights.get("posterior"),
            "volume_ml": v.volume_ml, "mean_hu": v.mean_hu, "centroid_l_mm": centroid[0],
            "centroid_p_mm": centroid[1], "centroid_s_mm": centroid[2], "peak_slice": v.peak_slice}


def findings_csv(findings: Findings) -> str:
    """findings.csv: one row per level (absent levels too, with empty cells)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for v in findings.vertebrae:
        writer.writerow({k: ("" if x is None else x) for k, x in level_row(v).items()})
    return out.getvalue()


def write_findings(folder: str | os.PathLike, findings: Findings) -> tuple[Path, Path]:
    """Validate, then write ``findings.json`` and ``findings.csv`` into ``folder`` (atomically).

    Returns:
        The two paths.

    Raises:
        ValueError: the findings do not follow the schema (nothing is written).
    """
    doc = findings.to_dict()
    validate_findings(doc)
    folder = Path(folder)
    paths = folder / "findings.json", folder / "findings.csv"
    with staged_file(paths[0]) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    with staged_file(paths[1]) as tmp:
        tmp.write_text(findings_csv(findings))
    return paths


__all__ = ["CSV_COLUMNS", "add_measurements", "level_row", "Findings", "OPERATING_POINTS", "SCHEMA_VERSION", "VertebraFinding", "findings_csv",
           "findings_schema", "validate_findings", "write_findings"]
