"""Per-level regions of interest for the fracture classifier: a fixed physical box per vertebra.

Each present level gets a box of :data:`ROI_ZYX` voxels at 1 mm (48 × 64 × 64 mm, z × y × x),
centred on the level's centroid in the 1 mm crop. Its channels, in this order:

0-4  the five network channels of :func:`make_channels` (three bone windows and two priors);
5    this level's mask;
6    the mask of the level above (towards the head), 7 the level below;
8    the fracture-region probability of the segmentation model (0..1).

The masks come from the segmentation or from a user-corrected label map: the ROI is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..constants import HU_AIR, N_LEVELS
from .channels import N_CHANNELS, make_channels

#: ROI size (z, y, x) in voxels at 1 mm: a vertebra (about 15-25 mm tall, 15-20 mm deep for the
#: body, up to 60 mm wide with the transverse processes) with room for its neighbours' endplates.
ROI_ZYX: tuple[int, int, int] = (48, 64, 64)
ROI_CHANNEL_NAMES: tuple[str, ...] = ("window_1800_400", "window_2800_600", "window_4000_700",
                                      "bone_likelihood", "edge", "level_mask", "above_mask", "below_mask",
                                      "fracture_probability")
N_ROI_CHANNELS = len(ROI_CHANNEL_NAMES)
#: Indices of the channels an ablation may switch off.
WINDOW_CHANNELS = (0, 1, 2)
FRACTURE_CHANNEL = 8


@dataclass(frozen=True)
class RoiInputs:
    """Which ROI channels a classifier was trained with (all on = the full model; the ablation switches).

    Attributes:
        windows: 3 bone windows, or 1 (the 1800/400 window alone; the other two zeroed).
        fracture_input: feed the segmentation's fracture-region probability.
    """

    windows: int = 3
    fracture_input: bool = True

    def __post_init__(self) -> None:
        if self.windows not in (1, 3):
            raise ValueError(f"windows must be 1 or 3, got {self.windows}")

    def apply(self, rois: np.ndarray) -> np.ndarray:
        """Zero the channels these inputs leave out (in place); ``rois`` is (P, 9, z, y, x)."""
        if self.windows == 1:
            rois[:, 1:3] = 0.0
        if not self.fracture_input:
            rois[:, FRACTURE_CHANNEL] = 0.0
        return rois


@dataclass
class LevelROIs:
    """The ROIs of the present levels of one case, head to feet (C1 first).

    Attributes:
        channels: float32 (P, 9, z, y, x), P present levels.
        levels: int64 (P,) level indices 0..6 (C1..C7).
        starts: int64 (P, 3): each box's first voxel (z, y, x) in the crop (may be negative).
        present: bool (7,) which levels have a ROI.
    """

    channels: np.ndarray
    levels: np.ndarray
    starts: np.ndarray
    present: np.ndarray


def level_centroids(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Voxel centroid (z, y, x) of each level 1..7 present in a label array."""
    values = [v for v in range(1, N_LEVELS + 1) if np.any(labels == v)]
    coms = ndimage.center_of_mass(np.ones(labels.shape, np.uint8), labels, values) if values else []
    return {v: np.asarray(c, float) for v, c in zip(values, coms)}


def box_starts(centre_zyx: np.ndarray, size_zyx: tuple[int, int, int] = ROI_ZYX) -> np.ndarray:
    """First voxel (z, y, x) of a box of ``size_zyx`` centred on ``centre_zyx`` (voxel units)."""
    return np.round(np.asarray(centre_zyx) - (np.asarray(size_zyx) - 1) / 2.0).astype(np.int64)


def cut_box(array: np.ndarray, start: np.ndarray, size: tuple[int, ...], fill: float) -> np.ndarray:
    """The box ``array[start : start + size]`` (per axis), padded with ``fill`` where it leaves the array."""
    out = np.full(size, fill, dtype=array.dtype)
    src, dst = [], []
    for s, n, m in zip(start, size, array.shape):
        lo, hi = max(0, int(s)), min(m, int(s) + n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - int(s), hi - int(s)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def paste_box_max(target: np.ndarray, box: np.ndarray, start: np.ndarray) -> None:
    """``target = max(target, box)`` over the part of the box that lies inside ``target`` (in place)."""
    src, dst = [], []
    for s, n, m in zip(start, box.shape, target.shape):
        lo, hi = max(0, int(s)), min(m, int(s) + n)
        if hi <= lo:
            return
        dst.append(slice(lo, hi))
        src.append(slice(lo - int(s), hi - int(s)))
    np.maximum(target[tuple(dst)], box[tuple(src)], out=target[tuple(dst)])


def roi_channels(hu_box: np.ndarray, labels_box: np.ndarray, level: int,
                 fracture_box: np.ndarray | None) -> np.ndarray:
    """The nine ROI channels of one level from its boxes of HU, labels and fracture probability.

    Args:
        hu_box: HU (z, y, x) at 1 mm.
        labels_box: C1..C7 labels (z, y, x), same shape.
        level: the level's label value 1..7.
        fracture_box: fracture-region probability 0..1 (z, y, x), or None (channel left at 0).
            Read only inside the levels' masks (any level): see the comment below.

    Returns:
        float32 (9, z, y, x) in the order of :data:`ROI_CHANNEL_NAMES`.
    """
    out = np.zeros((N_ROI_CHANNELS, *hu_box.shape), np.float32)
    out[:N_CHANNELS] = make_channels(hu_box)
    out[5] = labels_box == level
    if level > 1:  # C1 has no level above (label 0 is background, not a level)
        out[6] = labels_box == level - 1
    out[7] = labels_box == level + 1
    if fracture_box is not None:
        # The segmentation's fracture-region map reaches 1-2 mm past the level masks where the two
        # disagree on a surface. On the real head-and-neck series that rim alone made classifier
        # 0.3.1 call C3 fractured (0.62; 0.07 with the map cut to the masks; benchmarks/
        # cls_real_series.py). A fragment the masks leave out still shows in the HU channels.
        out[FRACTURE_CHANNEL] = np.where(labels_box > 0, fracture_box, 0.0)
    return out


def extract_rois(hu: np.ndarray, labels: np.ndarray, fracture: np.ndarray | None = None,
                 size_zyx: tuple[int, int, int] = ROI_ZYX) -> LevelROIs:
    """The ROI of every level present in a 1 mm crop.

    Args:
        hu: HU (z, y, x) on a 1 mm isotropic grid (the segmentation crop).
        labels: C1..C7 labels (z, y, x) on the same grid, predicted or corrected by a user.
        fracture: fracture-region probability (z, y, x) 0..1 on the same grid, or None.
        size_zyx: box size in voxels.

    Returns:
        The present levels' ROIs, C1 first; P = 0 when no level is present.

    Raises:
        ValueError: arrays of different shapes.
    """
    if labels.shape != hu.shape or (fracture is not None and fracture.shape != hu.shape):
        raise ValueError(f"hu {hu.shape}, labels {labels.shape} and fracture map must share one grid")
    cents = level_centroids(labels)
    present = np.zeros(N_LEVELS, bool)
    chans, levels, starts = [], [], []
    for v in sorted(cents):
        start = box_starts(cents[v], size_zyx)
        frac = cut_box(fracture, start, size_zyx, 0).astype(np.float32) if fracture is not None else None
        chans.append(roi_channels(cut_box(hu, start, size_zyx, HU_AIR), cut_box(labels, start, size_zyx, 0),
                                  v, frac))
        levels.append(v - 1)
        starts.append(start)
        present[v - 1] = True
    shape = (0, N_ROI_CHANNELS, *size_zyx)
    return LevelROIs(np.stack(chans) if chans else np.zeros(shape, np.float32), np.asarray(levels, np.int64),
                     np.asarray(starts, np.int64).reshape(-1, 3), present)


__all__ = ["FRACTURE_CHANNEL", "LevelROIs", "RoiInputs", "N_ROI_CHANNELS", "ROI_CHANNEL_NAMES", "ROI_ZYX",
           "WINDOW_CHANNELS", "box_starts", "cut_box", "extract_rois", "level_centroids", "paste_box_max", "roi_channels"]
