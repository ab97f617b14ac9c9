"""Network-ready classifier samples: one patient's level ROIs with augmentation and ablation switches."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from ..constants import HU_AIR
from ..preprocess.roi import (
    RoiInputs,
    ROI_ZYX,
    box_starts,
    cut_box,
    level_centroids,
    roi_channels,
)
from ..data.cls_cases import ClsSample
from .loop import split_key
from .fov_cut import draw_field_of_view_cut
from .mask_shift import draw_mask_shift
from .mask_surface import jitter_neighbour_masks, move_mask_surfaces
from .bone_density import draw_bone_density_shift, shift_bone_density
from .scan_augment import coarsen, draw_voxel_zyx

log = logging.getLogger(__name__)
#: Extra voxels cut on each side of a ROI before a rotation, so its corners stay filled.
ROTATION_MARGIN = 8


def patient_target(sample: ClsSample) -> int:
    """1 when the case has a fractured level (or its truth says so), else 0."""
    flag = sample.truth.get("patient_fractured")
    return int(bool(flag)) if flag is not None else int(bool((sample.fractured == 1).any()))


class ClassificationDataset(Dataset):
    """Per patient: ROIs of the levels its mask holds, their fracture targets and the patient target.

    Args:
        source: prepared cases (a :class:`~.cls_data.ClsCache` or any sequence of ClsSample);
            read once and kept in memory.
        augment: left-right flip, rotation about the long axis (±10°), ROI centre jitter (σ 2 mm),
            HU scale and offset, and the level mask grown or shrunk by 1 mm (masks are predicted).
        balanced: draw fractured and intact patients equally often (the index then only seeds the draw).
        seed: base seed (each item and epoch draws its own stream).
        mask_source: ``predicted`` (the segmentation's mask) or ``given`` (the case's own, where it has one).
        ablation: input switches.
        region_targets: also return each ROI's true fracture region (``region``, uint8, the ROI
            grid, transformed with it) and ``has_region`` (False where the case has none).
        coarse_scans: with ``augment``, the probability that a patient's HU boxes are seen as a
            coarser scanner would give them (:mod:`.scan_augment`; one voxel size per patient),
            drawn from a child stream so that the other augmentations stay as they were.
        fov_cuts: with ``augment``, the probability that a patient's scan ends inside its top or
            bottom level (:mod:`.fov_cut`; cuts that would hide a fracture are not made), drawn
            from a child stream of its own.
        mask_shifts: with ``augment``, the probability that a patient's mask has one boundary
            between neighbouring levels moved (:mod:`.mask_shift`), drawn from a child stream of
            its own after the field-of-view cut.
        bone_density: with ``augment``, the probability that a patient's bone is made denser or
            less dense (:mod:`.bone_density`; one change per patient, before the scanner's blur),
            drawn from a child stream of its own after the mask shift.
        neighbour_masks: with ``augment``, the probability that each of a ROI's two neighbour-level
            mask channels is grown or shrunk by 1-2 mm (:func:`.mask_surface.jitter_neighbour_masks`), drawn
            from a child stream of its own after the bone density.
        mask_surfaces: with ``augment``, the probability that all of a patient's level masks are
            grown or shrunk together by 1-2 mm (:func:`.mask_surface.move_mask_surfaces`; one draw per patient),
            from a child stream of its own after the neighbour masks.
    """

    def __init__(self, source: Sequence[ClsSample], augment: bool = True, balanced: bool = True, seed: int = 0,
                 mask_source: str = "predicted", ablation: RoiInputs = RoiInputs(),
                 region_targets: bool = False, coarse_scans: float = 0.0, fov_cuts: float = 0.0,
                 mask_shifts: float = 0.0, bone_density: float = 0.0, neighbour_masks: float = 0.0,
                 mask_surfaces: float = 0.0) -> None:
        for name, p in (("coarse_scans", coarse_scans), ("fov_cuts", fov_cuts), ("mask_shifts", mask_shifts),
                        ("bone_density", bone_density), ("neighbour_masks", neighbour_masks),
                        ("mask_surfaces", mask_surfaces)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if mask_source not in ("predicted", "given"):
            raise ValueError(f"mask_source must be predicted or given, got {mask_source!r}")
        samples = [source[i] for i in range(len(source))]
        self.samples = [s for s in samples if s.labels(mask_source).any()]
        if len(self.samples) < len(samples):
            log.warning("%d of %d cases have no level in their mask and are left out",
                        len(samples) - len(self.samples), len(samples))
        for s in self.samples:  # what the dataset never reads is dropped from memory
            if not region_targets:
                s.fracture_truth = None
            if mask_source == "predicted":
                s.given = None
        self.mask_source = mask_source
        self.augment, self.balanced, self.seed, self.ablation = augment, balanced, seed, ablation
        self.region_targets = region_targets
        self.coarse_scans, self.fov_cuts, self.mask_shifts = coarse_scans, fov_cuts, mask_shifts
        self.bone_density, self.neighbour_masks, self.mask_surfaces = bone_density, neighbour_masks, mask_surfaces
        self.epoch = 0
        self.targets = np.array([patient_target(s) for s in self.samples])
        self._centroids: dict[int, dict[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def case_index(self, key: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
        """The case an item key stands for, and the item's random stream."""
        epoch, i = split_key(key, self.epoch)
        rng = np.random.default_rng([self.seed, epoch, i])
        if self.balanced and 0 < self.targets.sum() < len(self.targets):
            pool = np.flatnonzero(self.targets == (rng.random() < 0.5))
            return int(rng.choice(pool)), rng
        return i, rng

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        idx, rng = self.case_index(key)
        s = self.samples[idx]
        voxel = None
        if self.augment and self.coarse_scans > 0:  # a child stream: the other draws stay as without it
            scan_rng = rng.spawn(1)[0]
            voxel = draw_voxel_zyx(scan_rng) if scan_rng.random() < self.coarse_scans else None
        altered = None  # the case as a cut scan and/or with a moved level boundary
        if self.augment and self.fov_cuts > 0:  # a child stream of its own, as for the scanner
            fov_rng = rng.spawn(1)[0]
            if fov_rng.random() < self.fov_cuts:
                altered = draw_field_of_view_cut(s, fov_rng, self.mask_source)
        if self.augment and self.mask_shifts > 0:  # its own child stream: the draws above stay as they were
            shift_rng = rng.spawn(1)[0]
            if shift_rng.random() < self.mask_shifts:
                moved = draw_mask_shift(altered if altered is not None else s, shift_rng, self.mask_source)
                altered = moved if moved is not None else altered
        density = 0.0  # HU added to the patient's bone (a child stream: the draws above stay as they were)
        if self.augment and self.bone_density > 0:
            density_rng = rng.spawn(1)[0]
            if density_rng.random() < self.bone_density:
                density = draw_bone_density_shift(density_rng)
        # its own child stream, after the others: without it every draw stays as it was
        neighbour_rng = rng.spawn(1)[0] if self.augment and self.neighbour_masks > 0 else None
        surface_mm = 0  # all masks grown (> 0) or shrunk (< 0) by this many mm
        if self.augment and self.mask_surfaces > 0:
            surface_rng = rng.spawn(1)[0]
            if surface_rng.random() < self.mask_surfaces:
                surface_mm = (1 if surface_rng.random() < 2 / 3 else 2) * (1 if surface_rng.random() < 0.5 else -1)
        if altered is not None:
            s = altered
            labels = s.labels(self.mask_source)
            cents = level_centroids(labels)
        else:
            labels = s.labels(self.mask_source)
            if idx not in self._centroids:
                self._centroids[idx] = level_centroids(labels)
            cents = self._centroids[idx]
        frac = s.fracture_prob
        truth = s.fracture_truth if self.region_targets and s.fracture_truth is not None else None
        flip = self.augment and rng.random() < 0.5
        scale, offset = (float(rng.uniform(0.92, 1.08)), float(rng.uniform(-40, 40))) if self.augment else (1.0, 0.0)
        rois, levels, regions = [], [], []
        for v in sorted(cents):
            centre = cents[v] + (rng.normal(0, 2.0, 3) if self.augment else 0.0)
            arrays = [s.hu, labels, frac] + ([truth] if truth is not None else [])
            boxes = self._boxes(arrays, centre, rng)
            if flip:
                boxes = [b[..., ::-1] for b in boxes]
            hu_b, lab_b, frac_b = boxes[:3]
            if surface_mm:
                lab_b = move_mask_surfaces(lab_b, surface_mm)
            if density:  # the anatomy's density: before the HU calibration jitter and the scanner's blur
                hu_b = shift_bone_density(hu_b, density)
            if truth is not None:
                regions.append(np.ascontiguousarray(boxes[3] > 0))
            hu_b = hu_b.astype(np.float32) * scale + offset
            if voxel is not None:
                hu_b = coarsen(hu_b, voxel)
            ch = roi_channels(np.ascontiguousarray(hu_b), np.ascontiguousarray(lab_b), v,
                              np.ascontiguousarray(frac_b, dtype=np.float32) / 255.0)
            if self.augment:
                draw = rng.random()
                if draw < 0.25:
                    ch[5] = ndimage.binary_dilation(ch[5] > 0)
                elif draw < 0.5:
                    ch[5] = ndimage.binary_erosion(ch[5] > 0)
            if neighbour_rng is not None:
                jitter_neighbour_masks(ch, neighbour_rng, self.neighbour_masks)
            rois.append(ch)
            levels.append(v - 1)
        x = self.ablation.apply(np.stack(rois))
        lv = np.asarray(levels, np.int64)
        item = {"rois": torch.from_numpy(x), "levels": torch.from_numpy(lv),
                "targets": torch.from_numpy(s.fractured[lv].astype(np.int64)),
                "patient": torch.tensor(patient_target(s))}
        if self.region_targets:
            item["has_region"] = torch.tensor(truth is not None)
            item["region"] = torch.from_numpy(np.stack(regions).astype(np.uint8) if regions else
                                              np.zeros((len(lv), *ROI_ZYX), np.uint8))
        return item

    def _boxes(self, arrays: list[np.ndarray], centre: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Boxes of HU (first; padded with air), labels (second; nearest neighbour) and maps (0-padded)."""
        fills = [HU_AIR] + [0] * (len(arrays) - 1)
        if not self.augment:
            start = box_starts(centre)
            return [cut_box(a, start, ROI_ZYX, f) for a, f in zip(arrays, fills)]
        m = ROTATION_MARGIN
        big = (ROI_ZYX[0], ROI_ZYX[1] + 2 * m, ROI_ZYX[2] + 2 * m)
        start = box_starts(centre, big)
        angle = float(rng.uniform(-10, 10))
        # Rotation about z (the long axis): in the axial plane (y, x). Label maps (labels, the true
        # fracture region) by nearest neighbour; HU and the fracture probability linearly.
        boxes = [ndimage.rotate(cut_box(a, start, big, f), angle, axes=(1, 2), reshape=False,
                                order=0 if k in (1, 3) else 1, mode="nearest")
                 for k, (a, f) in enumerate(zip(arrays, fills))]
        return [b[:, m:-m, m:-m] for b in boxes]


__all__ = ["ClassificationDataset", "patient_target"]
