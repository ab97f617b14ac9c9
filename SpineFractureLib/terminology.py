"""What each level is called and looks like outside the library: SNOMED CT codes, the Slicer
terminology entry, and one colour per level (exports, reports and the Slicer module share them).

The lowest layer, beside :mod:`SpineFractureLib.constants`. Codes as DESIGN §4; the entry string
follows Slicer's ``TerminologyEntry`` tag (as Slicer writes it into a ``.seg.nrrd``, see
../shared/data/ctchest4-slicer, and as SlicerTotalSegmentator tags its vertebrae).
"""

from __future__ import annotations

from .constants import LEVELS

#: SNOMED CT category of every level: Anatomical Structure.
CATEGORY = ("SCT", "123037004", "Anatomical Structure")
#: SNOMED CT type code and meaning per level.
LEVEL_CODES: dict[str, tuple[str, str]] = {
    "C1": ("14806007", "C1 vertebra"), "C2": ("39976000", "C2 vertebra"), "C3": ("113205007", "C3 vertebra"),
    "C4": ("5329002", "C4 vertebra"), "C5": ("36978003", "C5 vertebra"), "C6": ("36054005", "C6 vertebra"),
    "C7": ("87391001", "C7 vertebra"),
}
#: The terminology context Slicer shows these entries under.
CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
#: One colour per level C1..C7 (RGB 0..1), shared by every picture and export of the project.
LEVEL_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.10, 0.15), (0.20, 0.65, 0.25), (0.95, 0.75, 0.10), (0.25, 0.40, 0.90),
    (0.95, 0.50, 0.15), (0.60, 0.20, 0.75), (0.10, 0.75, 0.80),
)


def terminology_entry(level: str) -> str:
    """Slicer's ``TerminologyEntry`` tag value of a level ("C1".."C7").

    Raises:
        KeyError: not a cervical level.
    """
    code, meaning = LEVEL_CODES[level]
    return (f"{CONTEXT}~{'^'.join(CATEGORY)}~SCT^{code}^{meaning}~^^~{ANATOMIC_CONTEXT}~^^~^^")


def terminology_dict(level: str) -> dict[str, object]:
    """The same entry as slicerio's terminology dictionary."""
    code, meaning = LEVEL_CODES[level]
    return {"contextName": CONTEXT, "category": list(CATEGORY), "type": ["SCT", code, meaning],
            "anatomicContextName": ANATOMIC_CONTEXT}


assert tuple(LEVEL_CODES) == LEVELS

__all__ = ["ANATOMIC_CONTEXT", "CATEGORY", "CONTEXT", "LEVEL_CODES", "LEVEL_COLOURS", "terminology_dict",
           "terminology_entry"]
