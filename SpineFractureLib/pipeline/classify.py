"""Fracture classification and Grad-CAM of one case from its 1 mm crop and level mask.

A Predictor-style object (as in nnU-Net): load the classifier once, call :meth:`Classifier.classify`
per case. The mask may come from the segmentation or from a user's corrected label map.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import LEVELS, N_LEVELS
from ..device import pick_device
from ..models.classifier_weights import LoadedClassifier, load_classifier
from ..models.cls_readout import cut_level_offsets, mirrored, patient_probability, readout_heat
from ..models.gradcam import gradcam_maps, heatmap_volume
from ..models.registry import ModelInfo
from ..preprocess.roi import RoiInputs, cut_box, extract_rois

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class Classification:
    """The result of :meth:`Classifier.classify`; per-level lists are C1..C7, None where absent.

    Attributes:
        probabilities: calibrated fracture probability of each present level.
        patient_probability: calibrated probability that the patient has a fracture (None when no
            level is present: nothing is invented).
        threshold: the decision threshold used for levels; ``patient_threshold`` for the patient.
        operating_point: ``balanced``, ``triage`` or ``user`` (a threshold given by the caller).
        fractured: per level, probability ≥ threshold (None where absent); ``patient_fractured`` likewise.
        heatmap: float32 (z, y, x) on the crop, 0..1: Grad-CAM, or Grad-CAM times the region head's
            probability where the weights' calibration says so (``Calibration.heatmap``); each
            level's map scaled by its probability, maximum over levels; None when Grad-CAM was not
            asked for.
        peak_zyx: per level, the crop voxel (z, y, x) most suspicious inside the level: the peak of
            the classifier's own fracture-region head where it has one (on held-out phantoms it lies
            at the true fracture 96 % of the time, Grad-CAM's peak 70 %), else the Grad-CAM peak
            (None where absent, or with neither). It is the "peak slice" the reader is taken to.
        peak_source: what ``peak_zyx`` comes from: "fracture-region head", "Grad-CAM" or None.
        gradcam_peak_zyx: per level, the heat map's own peak inside the level (None without it).
        timings_s: ``classify`` and ``gradcam`` seconds.
    """

    probabilities: list[float | None]
    patient_probability: float | None
    threshold: float
    patient_threshold: float
    operating_point: str
    fractured: list[bool | None]
    patient_fractured: bool | None
    heatmap: np.ndarray | None = None
    peak_zyx: list[tuple[int, int, int] | None] = field(default_factory=lambda: [None] * N_LEVELS)
    peak_source: str | None = None
    gradcam_peak_zyx: list[tuple[int, int, int] | None] = field(default_factory=lambda: [None] * N_LEVELS)
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_rows(self) -> list[dict[str, object]]:
        """One plain row per level: level, present, probability, fractured."""
        return [{"level": lv, "present": p is not None, "fracture_probability": p, "fracture": f}
                for lv, p, f in zip(LEVELS, self.probabilities, self.fractured)]


class Classifier:
    """Load a fracture classifier once and classify cases with it.

    Args:
        model: registered name, ``default`` or a weights file written by ``train-cls``.
        device: auto, cpu, cuda or mps.
    """

    def __init__(self, model: str = "default", device: str = "auto") -> None:
        self.device = pick_device(device)
        self.loaded: LoadedClassifier = load_classifier(model)
        self.network = self.loaded.network.to(self.device)

    @property
    def model_info(self) -> ModelInfo:
        """Name, version, sha256 and training data of the loaded classifier."""
        return self.loaded.info

    def classify(self, hu: np.ndarray, labels: np.ndarray, fracture: np.ndarray | None = None, *,
                 gradcam: bool = True, operating_point: str = "balanced", threshold: float | None = None,
                 progress: Progress | None = None) -> Classification:
        """Classify every level present in ``labels``.

        Args:
            hu: HU (z, y, x) of the 1 mm crop (identity direction), exactly -1024 outside the scan
                (as the crop is filled: a level against it is read as cut, see ``cut_level_offsets``).
            labels: C1..C7 labels (z, y, x) on the same grid.
            fracture: the segmentation's fracture-region probability 0..1 (z, y, x), or None.
            gradcam: also compute the heat map and each level's peak.
            operating_point: ``balanced`` or ``triage`` (thresholds from validation).
            threshold: a threshold of the user's (overrides the operating point for levels and patient).
            progress: optional ``progress(fraction, message)`` callback.

        Returns:
            The classification.
        """
        report = progress or (lambda f, m: None)
        cal = self.loaded.calibration
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        t_level = float(threshold) if threshold is not None else cal.threshold(operating_point, "level")
        t_patient = float(threshold) if threshold is not None else cal.threshold(operating_point, "patient")
        point = "user" if threshold is not None else operating_point
        t0 = time.perf_counter()
        report(0.0, "classifying the vertebrae")
        rois = extract_rois(hu, labels, fracture)
        RoiInputs(int(self.loaded.inputs.get("windows", 3)),
                  bool(self.loaded.inputs.get("fracture_input", True))).apply(rois.channels)
        probs: list[float | None] = [None] * N_LEVELS
        result = Classification(probs, None, t_level, t_patient, point, [None] * N_LEVELS, None)
        if len(rois.levels) == 0:
            result.timings_s = {"classify": time.perf_counter() - t0, "gradcam": 0.0}
            return result
        x = torch.from_numpy(rois.channels).to(self.device)
        lv = torch.from_numpy(rois.levels).to(self.device)
        with torch.no_grad():
            level_logits, patient_logit, region = self.network(x, lv, with_region=True)
            if cal.flip_average:
                flipped_levels, flipped_patient = self.network(mirrored(x), lv)
                level_logits = (level_logits + flipped_levels) / 2.0
                patient_logit = (patient_logit + flipped_patient) / 2.0
        # A level cut by the scan's edge is read with its end's offset (in calibrated logit units, so
        # scaled back by the temperature here): the patient readout then sees it too.
        z = level_logits.float().cpu().numpy() + cal.level_temperature * cut_level_offsets(
            labels, rois.levels + 1, cal.cut_level_bias, hu)
        level_p = 1.0 / (1.0 + np.exp(-z / cal.level_temperature))
        patient_p = patient_probability(cal.patient_source, z, float(patient_logit), cal.level_temperature,
                                        cal.patient_temperature)
        for i, p in zip(rois.levels, level_p):
            probs[int(i)] = float(p)
            result.fractured[int(i)] = bool(p >= t_level)
        result.patient_probability, result.patient_fractured = patient_p, bool(patient_p >= t_patient)
        region_p = region_maps(region, tuple(x.shape[2:])) if region is not None else None
        if region_p is not None:
            result.peak_zyx = _peaks(region_p, rois.starts, rois.levels, labels)
            result.peak_source = "fracture-region head"
        result.timings_s["classify"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if gradcam:
            report(0.5, "computing Grad-CAM heat maps")
            maps = readout_heat(cal.heatmap, gradcam_maps(self.network, x, lv), region_p)
            result.heatmap = heatmap_volume(hu.shape, maps, rois.starts, level_p)
            result.gradcam_peak_zyx = _peaks(maps, rois.starts, rois.levels, labels)
            if region is None:
                result.peak_zyx, result.peak_source = list(result.gradcam_peak_zyx), "Grad-CAM"
        result.timings_s["gradcam"] = time.perf_counter() - t0
        report(1.0, "classification done")
        log.info("classified %d levels: %s", len(rois.levels),
                 {LEVELS[int(i)]: round(float(p), 3) for i, p in zip(rois.levels, level_p)})
        return result


def region_maps(region: torch.Tensor, roi_shape: tuple[int, int, int]) -> np.ndarray:
    """The fracture-region head's logits (P, z/8, y/8, x/8) as probabilities on the ROI grid (P, z, y, x)."""
    prob = torch.sigmoid(region.float())[:, None]
    return F.interpolate(prob, size=roi_shape, mode="trilinear", align_corners=False)[:, 0].cpu().numpy()


def _peaks(maps: np.ndarray, starts: np.ndarray, levels: np.ndarray, labels: np.ndarray
           ) -> list[tuple[int, int, int] | None]:
    """Per level C1..C7, the crop voxel where its ROI map peaks inside the level's own mask
    (anywhere in the ROI when the map is zero on the mask); None for absent levels."""
    out: list[tuple[int, int, int] | None] = [None] * N_LEVELS
    shape = labels.shape
    for m, start, i in zip(maps, starts, levels):
        inside = m * _own_mask(labels, start, m.shape, int(i) + 1)
        peak = np.unravel_index(int(np.argmax(inside if inside.any() else m)), m.shape)
        out[int(i)] = tuple(int(np.clip(p + s, 0, n - 1)) for p, s, n in zip(peak, start, shape))
    return out


def _own_mask(labels: np.ndarray, start: np.ndarray, shape: tuple[int, ...], value: int) -> np.ndarray:
    """The level's mask cut to a ROI box (the peak is sought inside the vertebra where it has any heat)."""
    return (cut_box(labels, start, shape, 0) == value).astype(np.float32)


__all__ = ["Classification", "Classifier"]
