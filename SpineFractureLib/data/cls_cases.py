"""Prepared classifier cases (training, calibration, evaluation): the 1 mm spine crop with the masks and fracture map inference sees.

Preparing a case runs the segmentation model once (as at inference: its C1..C7 mask and its
fracture-region probability) and keeps the crop, the predicted mask, the mask given with the case
(where it has one) and the per-level truth. The winners of RSNA 2022 trained their classifiers on
predicted masks because only 87 of 2019 studies have drawn ones; a case that has a drawn mask can
use it (``mask_source="given"``). Prepared cases are cached as ``.npz``: segmenting costs seconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import HU_AIR, HU_MAX, LEVELS, N_LEVELS
from .case import LabelledCase
from ..preprocess.crop import crop_to_box

log = logging.getLogger(__name__)
#: Bump when the prepared arrays change meaning, or the segmenter's post-processing changes the
#: masks it predicts for the same weights (invalidates caches). cls-2: session 43's column rule in
#: ``models.postprocess.assign_levels``; cls-3: session 48's fragments kept by
#: ``models.postprocess.keep_largest_component``.
PREPARED_VERSION = "cls-3"


@dataclass
class ClsSample:
    """One prepared case; arrays (z, y, x) on the 1 mm crop (identity direction, z towards the head).

    Attributes:
        case_id: the source case.
        hu: int16 HU of the crop.
        predicted: uint8 C1..C7 labels predicted by the segmentation model.
        given: uint8 C1..C7 labels that came with the case, or None.
        fracture_prob: uint8 fracture-region probability × 255 from the segmentation model.
        fracture_truth: uint8 true fracture region, or None where the source has none.
        fractured: int8 (7,): 1 fractured, 0 not, -1 unknown (level absent from the truth).
        truth: the case's per-level truth (kind, grade, ...) and difficulty, JSON-ready.
    """

    case_id: str
    hu: np.ndarray
    predicted: np.ndarray
    given: np.ndarray | None
    fracture_prob: np.ndarray
    fracture_truth: np.ndarray | None
    fractured: np.ndarray
    truth: dict[str, Any]

    def labels(self, mask_source: str) -> np.ndarray:
        """The level mask to build ROIs from: ``predicted``, or ``given`` where the case has one."""
        if mask_source == "given" and self.given is not None:
            return self.given
        return self.predicted


def fractured_vector(truth: dict[str, Any]) -> np.ndarray:
    """Per-level fracture labels (7,) int8 from a case's truth: 1, 0, or -1 where unknown."""
    levels = truth.get("levels", {})
    out = np.full(N_LEVELS, -1, np.int8)
    for i, lv in enumerate(LEVELS):
        entry = levels.get(lv, {})
        if "fractured" in entry and entry.get("present", True):
            out[i] = int(bool(entry["fractured"]))
    return out


def prepare_cls_case(case: LabelledCase, segmenter) -> ClsSample:
    """Segment a labelled case and keep what the classifier trains on.

    Args:
        case: CT in HU with labels and truth (``levels`` {C1..C7: {present, fractured, ...}}).
        segmenter: a :class:`~SpineFractureLib.pipeline.segment.Segmenter` (or any object with a
            ``segment(ct)`` method returning a ``Segmentation``).

    Returns:
        The prepared sample.
    """
    seg = segmenter.segment(case.ct)
    given = None
    if case.truth.get("has_mask", True):
        given = crop_to_box(case.labels.with_array(case.cervical_labels()), seg.box, is_label=True).array
    frac = None
    if case.fracture is not None:
        frac = crop_to_box(case.fracture, seg.box, is_label=True).array.astype(np.uint8)
    hu = np.clip(np.round(seg.crop_hu.array), HU_AIR, HU_MAX).astype(np.int16)
    truth = {"levels": case.truth.get("levels", {}), "difficulty": case.truth.get("difficulty"),
             "patient_fractured": case.truth.get("patient_fractured")}
    return ClsSample(case.case_id, hu, seg.crop_labels.array.astype(np.uint8), None if given is None else given.astype(np.uint8),
                     np.round(np.clip(seg.crop_fracture, 0, 1) * 255).astype(np.uint8), frac,
                     fractured_vector(case.truth), json.loads(json.dumps(truth, default=str)))


class ClsCache:
    """Prepared classifier cases, computed on first use and kept as ``.npz`` files in ``folder``.

    Args:
        loaders: (key, function returning a LabelledCase) pairs.
        folder: cache folder, or None to prepare every time.
        segmenter_factory: builds the segmenter on first need (not at all when all are cached).
        tag: distinguishes caches of different segmentation models (e.g. its sha256 prefix).
    """

    def __init__(self, loaders: Sequence[tuple[str, Callable[[], LabelledCase]]],
                 folder: str | os.PathLike | None, segmenter_factory: Callable[[], Any], tag: str = "") -> None:
        self.loaders = list(loaders)
        self.folder = Path(folder) if folder else None
        self.factory = segmenter_factory
        self.tag = tag
        self._segmenter = None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.loaders)

    def path(self, i: int) -> Path | None:
        """The cache file of case ``i`` (None without a cache folder)."""
        if self.folder is None:
            return None
        key = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.loaders[i][0])
        return self.folder / f"{key}-{PREPARED_VERSION}{('-' + self.tag) if self.tag else ''}.npz"

    def __getitem__(self, i: int) -> ClsSample:
        key, load = self.loaders[i]
        path = self.path(i)
        if path is not None and path.is_file():
            return _read(path, key)
        if self._segmenter is None:
            self._segmenter = self.factory()
        # Named by its loader key, as a cached read names it (a phantom's key carries its config's hash).
        sample = dataclasses.replace(prepare_cls_case(load(), self._segmenter), case_id=key)
        if path is not None:
            _write(path, sample)
        return sample


def _write(path: Path, s: ClsSample) -> None:
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
    empty = np.zeros(1, np.uint8)
    np.savez_compressed(tmp, hu=s.hu, predicted=s.predicted, fracture_prob=s.fracture_prob, fractured=s.fractured,
                        given=s.given if s.given is not None else empty, has_given=s.given is not None,
                        fracture_truth=s.fracture_truth if s.fracture_truth is not None else empty,
                        has_fracture_truth=s.fracture_truth is not None, truth=json.dumps(s.truth))
    tmp.replace(path)


def _read(path: Path, key: str) -> ClsSample:
    with np.load(path) as z:
        return ClsSample(key, z["hu"], z["predicted"], z["given"] if z["has_given"] else None, z["fracture_prob"],
                         z["fracture_truth"] if z["has_fracture_truth"] else None, z["fractured"],
                         json.loads(str(z["truth"])))


__all__ = ["ClsCache", "ClsSample", "PREPARED_VERSION", "fractured_vector", "prepare_cls_case"]
