"""LabelledCase: a CT with its vertebra label map on the same grid, the unit every dataset yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..constants import LEVELS
from ..volume import CTVolume



@dataclass
class LabelledCase:
    """One case of a dataset.

    Attributes:
        case_id: identifier inside its dataset (a UID, a subject name or ``phantom-<seed>``).
        ct: the CT in HU, array (z, y, x) float32, LPS geometry.
        labels: uint8 label map on exactly ``ct``'s grid: 0 background, 1..7 = C1..C7,
            8..19 = T1..T12 where the source has them.
        fracture: uint8 fracture-region mask on ``ct``'s grid, or None where the source has none.
        truth: per-level truth, JSON-ready: ``levels`` {"C1".."C7": {present, fractured, ...}},
            ``patient_fractured``; keys a source does not know are absent.
    """

    case_id: str
    ct: CTVolume
    labels: CTVolume
    fracture: CTVolume | None = None
    truth: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.labels.same_grid(self.ct):
            raise ValueError(f"{self.case_id}: label map is not on the CT grid")
        if self.fracture is not None and not self.fracture.same_grid(self.ct):
            raise ValueError(f"{self.case_id}: fracture mask is not on the CT grid")

    def cervical_labels(self) -> np.ndarray:
        """The label array (z, y, x) with only C1..C7 kept (thoracic labels set to 0)."""
        arr = self.labels.array
        return np.where(arr <= len(LEVELS), arr, 0).astype(np.uint8)
