"""The end-to-end job: a CT in, everything a reader needs out (DESIGN §3), as plain objects.

:class:`Analyzer` is Predictor-style (load the models once, analyze many CTs):
:meth:`Analyzer.analyze` segments, classifies, computes Grad-CAM and measures;
:meth:`Analyzer.classify_mask` does the same on a given (user-corrected) label map. Neither
writes files (see :mod:`.outputs`). Each reports progress through ``progress(fraction, message)``
and times its stages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..constants import LEVELS
from ..export.findings import Findings, add_measurements
from ..measure import levels_cut_by_scan, measure_levels
from ..measure.levels import LevelMeasurement
from ..models.registry import read_registry
from ..preprocess.crop import crop_to_box
from ..preprocess.geometry import resample_like
from ..volume import CTVolume, box_around_labels
from .classify import Classification, Classifier
from .segment import Segmentation, Segmenter

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
NO_CLASSIFIER = ("no fracture classifier is installed: levels are segmented and measured, fracture "
                 "probabilities are left empty")
NO_SPINE = "no cervical vertebra was found in the field of view: every level is reported absent"
PHANTOM_CLASSIFIER = ("the fracture classifier is trained on synthetic phantoms only: on real CT its probabilities "
                      "are not meaningful (on the sample real scans it calls intact vertebrae fractured)")
#: Voxel sizes (mm) beyond which a fracture line is not resolved: in-plane, slice. Fracture CT is read
#: at ≤ 1 mm in-plane and ≤ 3 mm slices (RSNA 2022's studies; the phantoms are drawn within that).
FINE_IN_PLANE_MM, FINE_SLICE_MM = 1.0, 3.0


def coarse_scan_warning(spacing_xyz: tuple[float, float, float]) -> str | None:
    """The warning for a scan too coarse to show fracture lines, or None.

    Args:
        spacing_xyz: voxel size (x, y, z) in mm.
    """
    x, y, z = (float(v) for v in spacing_xyz)
    if max(x, y) <= FINE_IN_PLANE_MM and z <= FINE_SLICE_MM:
        return None
    return (f"the scan's voxels ({x:.2g} x {y:.2g} x {z:.2g} mm) are coarser than fracture CT "
            f"(in-plane <= {FINE_IN_PLANE_MM:g} mm, slices <= {FINE_SLICE_MM:g} mm): thin fracture lines are not "
            "resolved, so fracture probabilities are less reliable; a negative result does not rule out a fracture")


def low_bone_density_warning(measured: dict[str, LevelMeasurement],
                             trained_hu: tuple[float, float] | None) -> str | None:
    """The warning for bone less dense than any the classifier was trained on, or None.

    Only the low side warns: on held-out neck phantoms whose cancellous bone was drawn at 80–170 HU,
    below the 170–380 HU that classifier 0.3.1 was trained on, it called 26.5 % of intact levels
    fractured, and 0.7 % at 400–550 HU (session 38, ``benchmarks/cls_per_fov.py --phantom-config``).
    0.4.0, trained also with the bone made less or more dense (``train.bone_density``), calls fewer
    but still many: 23.2 % on fresh porotic necks where 0.3.1 called 31.8 % (session 43).
    The measured mean HU follows the drawn one to about 10 HU on 1 mm phantoms.

    Args:
        measured: :func:`~SpineFractureLib.measure.measure_levels`'s output (mean HU of each
            cancellous body; C1 has none).
        trained_hu: the classifier's training range (low, high) in HU; None (not known) gives no warning.
    """
    values = [m.mean_hu for m in measured.values() if m.mean_hu is not None]
    if trained_hu is None or not values:
        return None
    median = float(np.median(values))
    if median >= trained_hu[0]:
        return None
    return (f"the vertebral bodies' cancellous bone measures {median:.0f} HU (median over the levels), less dense "
            f"than the phantoms the fracture classifier was trained on ({trained_hu[0]:g}-{trained_hu[1]:g} HU): "
            "on such bone it calls intact vertebrae fractured more often; read its probabilities with care")


@dataclass
class Analysis:
    """What :class:`Analyzer` found in one CT (arrays (z, y, x) on the input grid).

    Attributes:
        ct: the input CT.
        labels: C1..C7 labels on the input grid.
        heatmap: Grad-CAM 0..1 on the input grid, or None (no classifier, or not asked for).
        findings: the findings.json content.
        segmentation: the segmentation's crop-level outputs (None for a given mask).
    """

    ct: CTVolume
    labels: CTVolume
    heatmap: np.ndarray | None
    findings: Findings
    segmentation: Segmentation | None = None


def default_classifier_installed() -> bool:
    """True when the registry names a default classification model."""
    return bool(read_registry().get("default", {}).get("classification"))


class Analyzer:
    """Load the segmentation and classification models once; analyze CTs with them.

    Args:
        segmentation: segmentation model (registered name, ``default`` or a weights file).
        classification: classifier (name, ``default`` or file); ``default`` when none is
            registered, or None, runs without one (probabilities stay empty, with a warning).
        device: auto, cpu, cuda or mps.
    """

    def __init__(self, segmentation: str = "default", classification: str | None = "default",
                 device: str = "auto") -> None:
        self.segmenter = Segmenter(segmentation, device)
        self.device = str(self.segmenter.device)
        if classification == "default" and not default_classifier_installed():
            classification = None
        self.classifier = Classifier(classification, device) if classification else None

    def analyze(self, ct: CTVolume, *, gradcam: bool = True, threshold: float | None = None,
                operating_point: str = "balanced", progress: Progress | None = None,
                load_seconds: float | None = None) -> Analysis:
        """Segment, classify, explain and measure one CT.

        Args:
            ct: CT in HU, any orientation and spacing; array (z, y, x).
            gradcam: compute the heat map (costs about as much as the classification).
            threshold: a user threshold for the decisions (else the operating point's).
            operating_point: ``balanced`` or ``triage``.
            progress: ``progress(fraction, message)`` callback.
            load_seconds: time spent reading the input, recorded in the timings.
        """
        report = progress or (lambda f, m: None)
        t_start = time.perf_counter()
        seg = self.segmenter.segment(ct, progress=lambda f, m: report(0.05 + 0.55 * f, m))
        timings = {"localize": seg.timings_s.get("crop", 0.0),
                   "segment": sum(v for k, v in seg.timings_s.items() if k != "crop")}
        analysis = self._finish(ct, seg.labels, seg.crop_hu, seg.crop_labels.array, seg.crop_fracture, seg,
                                timings, gradcam, threshold, operating_point, report, t_start, load_seconds)
        analysis.findings.warnings += seg.notes
        return analysis

    def classify_mask(self, ct: CTVolume, labels: CTVolume, *, gradcam: bool = True,
                      threshold: float | None = None, operating_point: str = "balanced",
                      progress: Progress | None = None, load_seconds: float | None = None) -> Analysis:
        """Classify, explain and measure the levels of a given label map (a corrected mask).

        The segmentation model still runs once, for the spine's crop and the fracture-region
        map the classifier reads; its levels are not used: the given mask is, unchanged.

        Args:
            ct: CT in HU; array (z, y, x).
            labels: C1..C7 labels on ``ct``'s grid (other values are ignored).
            gradcam, threshold, operating_point, progress, load_seconds: as :meth:`analyze`.

        Raises:
            ValueError: the mask is not on the CT's grid.
        """
        if not labels.same_grid(ct):
            raise ValueError("the mask is not on the CT's grid (size, spacing, origin or direction differ)")
        report = progress or (lambda f, m: None)
        t_start = time.perf_counter()
        cervical = labels.with_array(np.where((labels.array >= 1) & (labels.array <= len(LEVELS)),
                                              labels.array, 0).astype(np.uint8))
        seg = self.segmenter.segment(ct, progress=lambda f, m: report(0.05 + 0.5 * f, m))
        crop_labels = crop_to_box(cervical, seg.box, is_label=True).array
        timings = {"localize": seg.timings_s.get("crop", 0.0),
                   "segment": sum(v for k, v in seg.timings_s.items() if k != "crop")}
        analysis = self._finish(ct, cervical, seg.crop_hu, crop_labels, seg.crop_fracture, seg, timings, gradcam,
                                threshold, operating_point, report, t_start, load_seconds)
        lost = [lv for i, lv in enumerate(LEVELS, start=1) if np.any(cervical.array == i) and not np.any(crop_labels == i)]
        if lost:
            analysis.findings.warnings.append(f"{', '.join(lost)} of the given mask lie outside the analysed "
                                              "region of the spine and were not classified")
        return analysis

    def _finish(self, ct: CTVolume, labels: CTVolume, crop: CTVolume, crop_labels: np.ndarray,
                crop_fracture: np.ndarray, seg: Segmentation, timings: dict[str, float], gradcam: bool,
                threshold: float | None, operating_point: str, report: Progress, t_start: float,
                load_seconds: float | None) -> Analysis:
        findings = Findings(input={"size": list(ct.shape_xyz), "spacing_mm": [round(s, 4) for s in ct.spacing],
                                   "modality": ct.modality, "format": _format(ct)},
                            device=self.device, warnings=list(ct.warnings))
        if self.segmenter.localizer is not None:
            findings.model["localization"] = self.segmenter.localizer.info.as_json()
        findings.model["segmentation"] = self.segmenter.model_info.as_json()
        heat = None
        if not np.any(crop_labels):
            findings.warnings.append(NO_SPINE)
            log.info(NO_SPINE)  # the CLI prints findings.warnings; a log line would repeat it
        if self.classifier is None:
            findings.warnings.append(NO_CLASSIFIER)
        elif np.any(crop_labels):
            findings.model["classification"] = self.classifier.model_info.as_json()
            if "phantom" in self.classifier.model_info.trained_on:
                findings.warnings.append(PHANTOM_CLASSIFIER)
            coarse = coarse_scan_warning(ct.spacing)
            if coarse:
                findings.warnings.append(coarse)
            result = self.classifier.classify(crop.array, crop_labels, crop_fracture, gradcam=gradcam,
                                              operating_point=operating_point, threshold=threshold,
                                              progress=lambda f, m: report(0.6 + 0.3 * f, m))
            timings |= result.timings_s
            heat = self._into_findings(findings, result, ct, crop)
        t0 = time.perf_counter()
        report(0.9, "measuring the vertebrae")
        measured = measure_levels(ct, labels.array)
        add_measurements(findings, measured)
        if self.classifier is not None and np.any(crop_labels):
            porotic = low_bone_density_warning(measured, self.classifier.loaded.cancellous_hu)
            if porotic:
                findings.warnings.append(porotic)
        findings.warnings += cut_level_warnings(labels.array)
        timings["measure"] = time.perf_counter() - t0
        if load_seconds is not None:
            timings["load"] = load_seconds
        timings["total"] = time.perf_counter() - t_start + (load_seconds or 0.0)
        findings.timings_s = {k: round(v, 3) for k, v in timings.items()}
        report(0.95, "analysis done")
        return Analysis(ct, labels, heat, findings, seg)

    def _into_findings(self, findings: Findings, result: Classification, ct: CTVolume, crop: CTVolume
                       ) -> np.ndarray | None:
        """Copy the classification into the findings; return the heat map on the input grid."""
        findings.threshold = round(result.threshold, 6)
        findings.operating_point = result.operating_point
        findings.patient = {"fracture_probability": _round(result.patient_probability),
                            "fracture": result.patient_fractured, "threshold": round(result.patient_threshold, 6)}
        for i, level in enumerate(LEVELS):
            v = findings.level(level)
            v.fracture_probability, v.fracture = _round(result.probabilities[i]), result.fractured[i]
            peak = result.peak_zyx[i]
            if peak is not None:
                lps = crop.index_to_lps(np.asarray(peak[::-1], float))
                k = int(np.clip(round(float(ct.lps_to_index(lps)[2])), 0, ct.array.shape[0] - 1))
                v.peak_slice, v.peak_lps_mm = k, np.round(lps, 2).tolist()
        if result.heatmap is None:
            return None
        return heat_on_input_grid(result.heatmap, crop, ct)


#: Zero voxels kept around the heat's non-zero box (linear interpolation reads one beyond an edge).
HEAT_MARGIN_VOXELS = 2


def heat_on_input_grid(heat: np.ndarray, crop: CTVolume, ct: CTVolume) -> np.ndarray:
    """The crop's heat map (z, y, x, 0..1) on the input CT's grid, float32, 0 outside the crop.

    Only the input voxels inside the crop's bounding box are resampled; the rest is 0 without
    being computed, so a 512×512×400 scan holds one float32 heat map, not several transient copies.
    The crop itself is first cut to the box of its non-zero heat (the levels' ROIs, a fraction of
    the crop), with a margin of :data:`HEAT_MARGIN_VOXELS` zero voxels so that the interpolation
    reads the same values as on the whole crop.
    """
    box = box_around_labels(heat > 0, crop.spacing, HEAT_MARGIN_VOXELS * max(crop.spacing))
    if box is None:
        return np.zeros(ct.array.shape, np.float32)
    heat = heat[box[0][0]:box[1][0], box[0][1]:box[1][1], box[0][2]:box[1][2]]
    crop = crop.sub_volume(*box)
    corners = np.array([[i, j, k] for i in (0, crop.shape_xyz[0] - 1) for j in (0, crop.shape_xyz[1] - 1)
                        for k in (0, crop.shape_xyz[2] - 1)], float)
    ijk = ct.lps_to_index(crop.index_to_lps(corners))
    lo_xyz = np.floor(ijk.min(axis=0)).astype(int) - 1
    hi_xyz = np.ceil(ijk.max(axis=0)).astype(int) + 2
    lo = tuple(int(v) for v in np.clip(lo_xyz[::-1], 0, ct.array.shape))
    hi = tuple(int(v) for v in np.clip(hi_xyz[::-1], 0, ct.array.shape))
    out = np.zeros(ct.array.shape, np.float32)
    if all(b > a for a, b in zip(lo, hi)):
        part = resample_like(crop.with_array(heat.astype(np.float32, copy=False)), ct.sub_volume(lo, hi),
                             default_value=0.0).array
        np.clip(part, 0.0, 1.0, out=out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
    return out


def _round(p: float | None) -> float | None:
    return None if p is None else round(float(p), 6)


def _format(ct: CTVolume) -> str | None:
    if ct.source_files:
        return "dicom"
    name = ct.source.lower()
    for suffix, fmt in ((".nii", "nifti"), (".nii.gz", "nifti"), (".nrrd", "nrrd"), (".mha", "mha"), (".mhd", "mha")):
        if name.endswith(suffix):
            return fmt
    return None


def cut_level_warnings(labels: np.ndarray) -> list[str]:
    """Warnings for levels that touch the first or last slice (cut by the field of view).

    A cut level's probability is less reliable: on held-out phantoms a vertebra cut in half is told
    fractured from intact with an AUC of 0.79-0.85, against 0.91-0.996 whole (classifier 0.3.1,
    ``benchmarks/cls_fov_cut.py``). Classifier 0.4.0 on 192 held-out phantoms (seeds 901736-901927):
    cut bottom levels AUC 0.80 and 12 % of the intact ones over its threshold at sensitivity 0.71
    (0.3.1: 0.83, 3 % at 0.50); on 192 more (901928-902119) AUC 0.91, 11 % at 0.74.
    """
    return [f"{LEVELS[v - 1]} touches the edge of the scan: it may be cut, its measurements incomplete "
            "and its fracture probability less reliable" for v in levels_cut_by_scan(labels)]


__all__ = ["Analysis", "Analyzer", "NO_CLASSIFIER", "NO_SPINE", "PHANTOM_CLASSIFIER", "default_classifier_installed",
           "low_bone_density_warning"]
