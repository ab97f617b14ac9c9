"""Training samples for segmentation: cases cropped to the cervical spine at 1 mm, and a dataset.

A prepared sample is the crop's HU (int16), its C1..C7 labels and fracture mask. Preparing costs a
phantom generation or a file read plus a resample, so prepared samples can be cached as ``.npz``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..constants import HU_AIR, HU_MAX, N_LEVELS, T1_LABEL
from ..data.case import LabelledCase
from ..data.localizer_cases import truth_classes
from ..models.cascade import STAGE_NAMES
from ..models.column_anatomy import cervicothoracic_junction_mm
from ..preprocess.channels import make_channels
from ..preprocess.coarse import COARSE_FACTOR, coarse_channels, coarse_hu, coarse_labels
from ..preprocess.crop import crop_to_box, find_spine_box, place_box, region_of_mask
from ..preprocess.geometry import scan_z_range_mm
from .fov_cut import draw_level_crop_cut, jitter_box_above_scan, z_range
from .loop import split_key

log = logging.getLogger(__name__)


@dataclass
class PreparedSample:
    """A case cropped to the cervical spine on a 1 mm LPS grid; arrays (z, y, x), z towards the head.

    Attributes:
        case_id: the source case.
        hu: int16 HU.
        labels: uint8, 0 background, 1..7 C1..C7 (other labels dropped).
        fracture: uint8 fracture region, or None when the source has no mask.
        t1_slices: first and last slice (z index, inclusive) of T1 (the vertebra below C7) in the
            crop, or None where the source labels no T1 or the crop holds none of it.
    """

    case_id: str
    hu: np.ndarray
    labels: np.ndarray
    fracture: np.ndarray | None
    t1_slices: tuple[int, int] | None = None


def prepare_case(case: LabelledCase) -> PreparedSample:
    """Crop a labelled case around its cervical spine, the box placed as at inference.

    The bone-column box, moved onto the truth's cervical region where it misses it or its column
    runs on far above it (:func:`~SpineFractureLib.preprocess.crop.place_box`; at inference the
    localizer's region does this).

    Args:
        case: CT in HU with labels (1..7 = C1..C7) on its grid.

    Returns:
        The prepared sample.
    """
    cervical = case.labels.with_array(case.cervical_labels())
    # The truth stands in for the localizer, so crops are placed as at inference (pipeline.segment).
    box = place_box(find_spine_box(case.ct), region_of_mask(cervical), scan_z_range_mm(case.ct),
                    truth_junction_z_mm(case))
    hu = crop_to_box(case.ct, box).array
    # One nearest-neighbour crop of every label gives both the cervical labels and T1's extent.
    all_labels = crop_to_box(case.labels, box, is_label=True).array
    labels = np.where(all_labels <= N_LEVELS, all_labels, 0)
    fracture = None
    if case.fracture is not None:
        fracture = crop_to_box(case.fracture, box, is_label=True).array.astype(np.uint8)
    return PreparedSample(case.case_id, np.clip(np.round(hu), HU_AIR, HU_MAX).astype(np.int16),
                          labels.astype(np.uint8), fracture, z_range(all_labels == T1_LABEL))


def truth_junction_z_mm(case: LabelledCase) -> float | None:
    """LPS z (mm) of the cervicothoracic junction as the localizer reads it, on the truth's classes.

    The truth's stand-in for the localizer's junction: the same rule
    (:func:`~SpineFractureLib.models.column_anatomy.cervicothoracic_junction_mm`) on the truth's class
    map on the localizer's grid, so training crops are placed as at inference. None where the
    truth labels no vertebra below C7 (RSNA's labels stop at C7) or too little of it.
    """
    return cervicothoracic_junction_mm(*truth_classes(case))


#: Part of every cached sample's file name: changed whenever :func:`prepare_case` changes what it
#: makes, so caches of older preparations are not read (2: boxes placed on the truth's region;
#: 4: a region the scan's top edge cuts placed as if the column ran on up to C1 from the junction;
#: 5: T1's slices kept, for scan cuts through T1).
PREPARATION = "p5"


class PreparedCache:
    """Prepared samples, computed on first use and kept as ``.npz`` files in ``folder`` (if given).

    Args:
        loaders: (key, function returning a LabelledCase) pairs.
        folder: cache folder, or None to prepare every time.
    """

    def __init__(self, loaders: Sequence[tuple[str, Callable[[], LabelledCase]]],
                 folder: str | os.PathLike | None = None) -> None:
        self.loaders = list(loaders)
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.loaders)

    def __getitem__(self, i: int) -> PreparedSample:
        key, load = self.loaders[i]
        path = self.folder / f"{_safe(key)}.{PREPARATION}.npz" if self.folder else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                frac = z["fracture"] if z["has_fracture"] else None
                lo, hi = (int(v) for v in z["t1_slices"])
                return PreparedSample(key, z["hu"], z["labels"], frac, (lo, hi) if lo >= 0 else None)
        sample = prepare_case(load())
        if path is not None:
            tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
            np.savez_compressed(tmp, hu=sample.hu, labels=sample.labels,
                                fracture=sample.fracture if sample.fracture is not None else np.zeros(1, np.uint8),
                                has_fracture=sample.fracture is not None,
                                t1_slices=np.array(sample.t1_slices or (-1, -1)))
            tmp.replace(path)
        return sample


#: Segmentation stages: ``levels`` sees the whole crop at 2 mm and learns C1..C7; ``vertebra``
#: sees 1 mm patches and learns vertebra against background (and the fracture region).
STAGES = STAGE_NAMES


class SegmentationDataset(Dataset):
    """Network-ready samples: channels, labels and fracture mask, with augmentation.

    Args:
        source: prepared samples (a :class:`PreparedCache` or any sequence of PreparedSample).
        patch_zyx: random crop size (z, y, x) in voxels, or None for the whole crop (``vertebra``
            stage only: the ``levels`` stage always sees the whole crop).
        augment: random crop position, left-right flip, HU scale and offset.
        use_priors: False zeroes the bone-likelihood and edge channels (ablation).
        seed: base seed of the augmentation (each item and epoch draws its own stream).
        stage: ``vertebra`` (1 mm channels, labels 0/1) or ``levels`` (2 mm channels with the
            position channel, labels 0..7).
        scan_cuts: ``levels`` stage: probability that a crop is shown as a scan ending inside one
            of its vertebrae (:func:`~.fov_cut.draw_level_crop_cut`; its own random stream, so the
            other augmentations draw as without it).
        box_jitter: ``levels`` stage: largest shift (slices of the 2 mm crop) of a crop whose top
            lies above the scan (:func:`~.fov_cut.jitter_box_above_scan`; its own stream; 0 = off).

    Raises:
        ValueError: unknown stage.
    """

    def __init__(self, source: Sequence[PreparedSample], patch_zyx: Sequence[int] | None = None,
                 augment: bool = True, use_priors: bool = True, seed: int = 0, stage: str = "vertebra",
                 scan_cuts: float = 0.0, box_jitter: int = 0) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.scan_cuts = float(scan_cuts)
        self.box_jitter = int(box_jitter)
        self.stage = stage
        self.source = source
        self.patch = tuple(int(p) for p in patch_zyx) if patch_zyx else None
        self.augment = augment
        self.use_priors = use_priors
        self.seed = seed
        self.epoch = 0
        # The 2 mm pooling of a whole crop costs more than the level network's step on 2 cores, and
        # it commutes with the augmentation (an HU scale/offset and a flip), so it is done once per case.
        self._coarse: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, int] | None]] = {}

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        """One sample; ``key`` is an index (drawn for :attr:`epoch`) or an ``(epoch, index)`` pair."""
        epoch, i = split_key(key, self.epoch)
        rng = np.random.default_rng([self.seed, epoch, i])
        if self.stage == "levels":
            return self._levels_item(i, epoch, rng, np.random.default_rng([self.seed, epoch, i, 1]))
        s = self.source[i]
        hu, labels = s.hu.astype(np.float32), s.labels
        frac = s.fracture if s.fracture is not None else np.zeros_like(labels)
        if self.patch:
            starts = [int(rng.integers(0, max(1, n - p) + 1)) if self.augment else max(0, n - p) // 2
                      for n, p in zip(hu.shape, self.patch)]
            sl = tuple(slice(a, a + p) for a, p in zip(starts, self.patch))
            hu, labels, frac = hu[sl], labels[sl], frac[sl]
        hu, (labels, frac) = self._augment(rng, hu, labels, frac)
        return _item(make_channels(hu, use_priors=self.use_priors), labels > 0, frac, s.fracture is not None)

    def _levels_item(self, i: int, epoch: int, rng: np.random.Generator, cut_rng: np.random.Generator
                     ) -> dict[str, torch.Tensor]:
        if i not in self._coarse:
            s = self.source[i]
            t1 = None if s.t1_slices is None else (s.t1_slices[0] // COARSE_FACTOR, s.t1_slices[1] // COARSE_FACTOR)
            self._coarse[i] = (coarse_hu(s.hu), coarse_labels(s.labels), t1)
        hu, labels, t1 = self._coarse[i]
        if self.augment and self.scan_cuts > 0 and cut_rng.random() < self.scan_cuts:
            cut = draw_level_crop_cut(hu, labels, cut_rng, HU_AIR, t1_slices=t1)
            hu, labels = cut if cut is not None else (hu, labels)
        if self.augment and self.box_jitter > 0:
            moved = jitter_box_above_scan(hu, labels, np.random.default_rng([self.seed, epoch, i, 2]), HU_AIR,
                                          self.box_jitter)
            hu, labels = moved if moved is not None else (hu, labels)
        hu, (labels,) = self._augment(rng, hu, labels)
        channels = coarse_channels(hu, use_priors=self.use_priors)
        return _item(channels, labels, np.zeros(channels.shape[1:], np.uint8), False)

    def _augment(self, rng: np.random.Generator, hu: np.ndarray, *masks: np.ndarray
                 ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """HU scale and offset, and a left-right flip (the levels keep their names)."""
        if self.augment:
            hu = hu * float(rng.uniform(0.92, 1.08)) + float(rng.uniform(-40, 40))
            if rng.random() < 0.5:
                hu, masks = hu[..., ::-1], tuple(m[..., ::-1] for m in masks)
        return np.ascontiguousarray(hu, dtype=np.float32), masks


def _item(channels: np.ndarray, labels: np.ndarray, frac: np.ndarray, has_fracture: bool) -> dict[str, torch.Tensor]:
    return {
        "image": torch.from_numpy(channels),
        "label": torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))[None],
        "fracture": torch.from_numpy(np.ascontiguousarray(frac, dtype=np.float32))[None],
        "has_fracture": torch.tensor(bool(has_fracture)),
    }


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


__all__ = ["PREPARATION", "PreparedCache", "PreparedSample", "STAGES", "SegmentationDataset", "prepare_case",
           "truth_junction_z_mm"]
