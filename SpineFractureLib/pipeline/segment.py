"""C1..C7 segmentation of a whole CT: crop, the two U-Net stages, post-processing.

The level network sees the whole crop at 2 mm; the vertebra network outlines bone at 1 mm in
sliding windows; each vertebra piece then takes the level its voxels vote for.

A Predictor-style object (as in nnU-Net): load the model once, call :meth:`Segmenter.segment` per CT.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from ..constants import LEVELS
from ..device import pick_device
from ..models.level_checks import (anchor_at_junction, check_levels, close_gaps_left_by_checks, drop_lone_level,
                                   name_cut_top_level_from_below)
from ..models.localizer import Localization, Localizer
from ..models.postprocess import assign_levels, postprocess_levels
from ..models.registry import ModelInfo, load_segmentation_model
from ..models.unet import N_CLASSES, N_VERTEBRA_CLASSES
from ..preprocess.channels import make_channels
from ..preprocess.coarse import coarse_channels, coarse_hu, upsample_probabilities
from ..preprocess.crop import (
    SpineBox,
    crop_to_box,
    extend_beyond_field_of_view,
    field_of_view,
    find_spine_box,
    place_box,
)
from ..preprocess.geometry import resample_like, scan_reach_mm, scan_z_range_mm
from ..volume import CTVolume

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
#: Sliding-window size (z, y, x) voxels at 1 mm of the vertebra network: its training patch.
ROI_ZYX = (96, 96, 96)


@dataclass
class Segmentation:
    """The result of :meth:`Segmenter.segment`.

    Attributes:
        labels: uint8 C1..C7 label map on the input CT's grid.
        crop_labels: the same on the 1 mm crop (identity direction; z towards the head).
        crop_probabilities: float32 (8, z, y, x) on the crop: background = 1 - P(vertebra), and
            P(vertebra) shared among C1..C7 as the level network says.
        crop_fracture: float32 (z, y, x) fracture-region probability on the crop.
        crop_hu: the 1 mm crop in HU (for the classifier and Grad-CAM).
        box: where the crop lies.
        timings_s: seconds per stage (``crop``, ``levels``, ``vertebra``, ``postprocess``, ``resample``).
        notes: warnings for the reader: the levels found but dropped, and why.
        localization: what the localizer found (None when the segmenter runs without one).
    """

    labels: CTVolume
    crop_labels: CTVolume
    crop_probabilities: np.ndarray
    crop_fracture: np.ndarray
    crop_hu: CTVolume
    box: SpineBox
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    localization: Localization | None = None


#: A level the segmentation finds is kept only where its centroid lies inside the localizer's
#: cervical region grown by this much (mm). The region is coarse (4 mm): it may miss C1's lateral
#: masses (56 % of the demo phantom's C1 lay outside it grown by 12 mm), never a whole vertebra.
LOCALIZER_MARGIN_MM = 16.0


class Segmenter:
    """Load a segmentation model once and segment CT volumes with it.

    Args:
        model: registered name, ``default`` or a weights file written by ``export-seg``.
        device: auto, cpu, cuda or mps.
        overlap: sliding-window overlap (0..1).
        roi_zyx: sliding-window size; windows are merged with Gaussian weights.
        localizer: localizer weights (registered name, ``default`` or a ``train-loc`` file) that
            decide whether a cervical spine is in view and where; None: the bone-column
            heuristic alone.
    """

    def __init__(self, model: str = "default", device: str = "auto", overlap: float = 0.25,
                 roi_zyx: tuple[int, int, int] = ROI_ZYX, localizer: str | None = "default") -> None:
        self.device = pick_device(device)
        self.model, self.info = load_segmentation_model(model)
        self.model.to(self.device)
        self.localizer = Localizer(localizer, self.device) if localizer else None
        self.overlap = overlap
        self.roi = roi_zyx

    @property
    def model_info(self) -> ModelInfo:
        """Name, version, sha256 and training data of the loaded model."""
        return self.info

    @torch.no_grad()
    def segment(self, ct: CTVolume, progress: Progress | None = None) -> Segmentation:
        """Segment C1..C7.

        Args:
            ct: CT in HU, any orientation and spacing; array (z, y, x).
            progress: optional ``progress(fraction, message)`` callback.

        Returns:
            Labels on the input grid and the crop-level outputs.
        """
        report = progress or (lambda f, m: None)
        t = {}
        t0 = time.perf_counter()
        report(0.0, "finding the cervical spine")
        loc = self.localizer.locate(ct) if self.localizer is not None else None
        # The localizer, which knows the levels, corrects the bone column's box where it took another
        # stretch of the column (a chest CT's thoracic spine) or ran on up into the skull.
        box = place_box(find_spine_box(ct), loc.box_lps if loc is not None else None, scan_z_range_mm(ct),
                        loc.junction_z_mm if loc is not None else None)
        crop = crop_to_box(ct, box)
        fov = field_of_view(ct, crop)
        # The level network was trained on crops with air outside the scan and reads them well;
        # the vertebra network sees the scan extended past its edges (see extend_beyond_field_of_view).
        channels = make_channels(extend_beyond_field_of_view(crop.array, fov),
                                 use_priors=self.model.vertebra_use_priors)
        t["crop"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report(0.15, "identifying the levels")
        xc = torch.from_numpy(coarse_channels(coarse_hu(crop.array), use_priors=self.model.levels_use_priors))
        level_logits = self.model.levels(xc[None].to(self.device))[0, :N_CLASSES].float()
        levels = upsample_probabilities(torch.softmax(level_logits, dim=0).cpu(), crop.array.shape)
        t["levels"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report(0.3, "outlining the vertebrae")
        x = torch.from_numpy(channels)[None].to(self.device)
        roi = tuple(min(r, s) for r, s in zip(self.roi, x.shape[2:]))
        logits = sliding_window_inference(x, roi, sw_batch_size=1, predictor=self.model.vertebra,
                                          overlap=self.overlap, mode="gaussian")[0].float().cpu()
        vertebra = torch.softmax(logits[:N_VERTEBRA_CLASSES], dim=0)[1]
        fracture = torch.sigmoid(logits[N_VERTEBRA_CLASSES]) if logits.shape[0] > N_VERTEBRA_CLASSES \
            else torch.zeros_like(vertebra)
        t["vertebra"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report(0.8, "post-processing")
        vertebra_np, levels_np = vertebra.numpy() * fov, levels.numpy()
        bone = vertebra_np > 0.5
        checked = check_levels(postprocess_levels(assign_levels(bone, levels_np), bone), crop.spacing)
        crop_labels, notes = checked.labels, checked.warnings()
        if not box.column_found and crop_labels.any():
            # No 3 cm run of bone anywhere (a head-only scan, a thin slab): whatever the networks
            # outline there cannot be placed on a cervical column, so it is not reported.
            found = [LEVELS[v - 1] for v in np.unique(crop_labels[crop_labels > 0])]
            notes.append(f"no vertebral column was found in the field of view: {', '.join(found)} discarded")
            crop_labels = np.zeros_like(crop_labels)
        shift = 0
        if loc is not None:
            crop_labels = _agree_with_localizer(crop_labels, loc, crop, notes)
            anchored = anchor_at_junction(crop_labels, crop.origin[2], crop.spacing[2], loc.junction_z_mm)
            crop_labels, shift = anchored.labels, anchored.shift
            if shift and notes:
                # The notes so far name candidates as the level network numbered them.
                anchored.notes[0] += " (the notes before this one use the network's numbering)"
            notes += anchored.notes
        reach = scan_reach_mm(ct, crop)
        cut_top = name_cut_top_level_from_below(crop_labels, reach, crop.spacing[2])
        crop_labels = cut_top.labels
        notes += cut_top.notes
        if checked.dropped:
            # After the cut-top rule: a gap under a top level the scan's edge cuts is that level's
            # misnaming, not the levels' below (cut neck 1262002: "C1, C3-C6" is C2-C6, not C1-C5).
            closed = close_gaps_left_by_checks(crop_labels)
            crop_labels, notes = closed.labels, notes + closed.notes
        lone = drop_lone_level(crop_labels, reach, crop.spacing[2])
        crop_labels = lone.labels
        notes += lone.warnings()
        share = _shift_levels(levels_np[1:] / np.clip(levels_np[1:].sum(axis=0, keepdims=True), 1e-6, None), shift)
        probs_np = np.concatenate([(1.0 - vertebra_np)[None], vertebra_np[None] * share]).astype(np.float32)
        fracture_np = fracture.numpy() * fov
        t["postprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        crop_label_vol = crop.with_array(crop_labels)
        labels = resample_like(crop_label_vol, ct, is_label=True)
        # A level too thin to survive on a coarse input grid (10 mm slices) cannot be shown, measured
        # or reviewed there, so it is not classified either.
        for value in np.unique(crop_labels[crop_labels > 0]):
            if not np.any(labels.array == value):
                crop_labels[crop_labels == value] = 0
                notes.append(f"a {LEVELS[value - 1]} candidate was discarded: it vanishes on the input grid")
        t["resample"] = time.perf_counter() - t0
        report(1.0, "segmentation done")
        log.info("segmented: %s", {k: round(v, 2) for k, v in t.items()})
        return Segmentation(labels, crop_label_vol, probs_np, fracture_np, crop, box, t, notes, loc)


def _shift_levels(share: np.ndarray, shift: int) -> np.ndarray:
    """Level channels (7, z, y, x) moved ``shift`` (≥ 0) levels down the column, as the labels were."""
    if shift == 0:
        return share
    out = np.zeros_like(share)
    out[shift:] = share[:-shift]
    return out


def _agree_with_localizer(crop_labels: np.ndarray, loc: Localization, crop: CTVolume, notes: list[str]) -> np.ndarray:
    """Drop the levels the localizer does not place on the cervical spine (all, when it finds none)."""
    found = [int(v) for v in np.unique(crop_labels[crop_labels > 0])]
    if not found:
        return crop_labels
    if not loc.found:
        notes.append("the localizer finds no cervical spine in the field of view: "
                     f"{', '.join(LEVELS[v - 1] for v in found)} discarded")
        return np.zeros_like(crop_labels)
    region = resample_like(loc.region_mask(LOCALIZER_MARGIN_MM), crop, is_label=True).array > 0
    out = crop_labels.copy()
    for v in found:
        piece = crop_labels == v
        centre = tuple(np.round(np.argwhere(piece).mean(axis=0)).astype(int))
        if not region[centre]:
            out[piece] = 0
            notes.append(f"{LEVELS[v - 1]} discarded: it lies off the cervical spine the localizer found")
    return out


__all__ = ["ROI_ZYX", "Segmentation", "Segmenter"]
