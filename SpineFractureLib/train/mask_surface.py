"""Level-mask surfaces moved by a millimetre or two, as segmentations place them on blurred real bone.

Training augmentations of the classifier (``train-cls`` keys ``neighbour_masks`` and
``mask_surfaces``): the masks' surfaces move, no voxel changes from one level to another, and no
fracture target changes (a level keeps all but its outer 1-2 mm).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def jitter_neighbour_masks(channels: np.ndarray, rng: np.random.Generator, p: float) -> None:
    """Grow or shrink the neighbour levels' mask channels of one ROI by 1-2 mm, in place.

    Why: a segmentation puts a level's surface 1-2 mm in or out of the bone's blurred edge, and
    the classifiers up to 0.3.1 read that as a fracture of the level between. On the real
    head-and-neck series, C2's and C4's masks 1 mm thinner (C3's as it was) made 0.3.1 call C3
    fractured at 0.98 (0.07 as segmented); training had only ever moved the level's own mask
    surface, never its neighbours'. Each neighbour channel is changed independently with
    probability ``p``: grown (half the time; never into the level's own mask) or shrunk, by
    1 mm (two times in three) or 2 mm.

    Args:
        channels: float32 (9, z, y, x) ROI channels (``preprocess.roi.roi_channels`` order;
            5 the level's mask, 6 and 7 the levels above and below).
        rng: the draw's random stream.
        p: probability per neighbour channel, 0..1.
    """
    own = channels[5] > 0
    for c in (6, 7):
        if rng.random() >= p:
            continue
        grow, mm = rng.random() < 0.5, 1 if rng.random() < 2 / 3 else 2
        mask = channels[c] > 0
        if not mask.any():
            continue
        if grow:
            channels[c] = ndimage.binary_dilation(mask, iterations=mm) & ~own
        else:  # border_value 1: a neighbour cut by the box goes on past it, its cut face is no surface
            channels[c] = ndimage.binary_erosion(mask, iterations=mm, border_value=1)


def move_mask_surfaces(labels: np.ndarray, mm: int) -> np.ndarray:
    """Every level's mask grown (``mm`` > 0, into background only) or shrunk (``mm`` < 0) by ``|mm|`` voxels.

    Why: on a scan whose bone edges are blurred (the real head-and-neck series, 3.2 mm voxels) a
    segmentation trained on phantoms draws masks about 1 mm inside the bone's edge, so every level
    sits in a rim of bone that no mask holds; the classifiers up to 0.3.1 read such a rim beside a
    level as a fracture (all masks 1 mm thinner: 0.3.1 calls the real series' C2 and C3 at
    0.90 / 0.95, 0.07 as segmented). One offset for the whole patient, as a segmentation's is.

    Args:
        labels: C1..C7 labels (z, y, x) on a 1 mm grid (a ROI's box).
        mm: voxels to grow (> 0) or shrink (< 0) by; 0 returns the labels unchanged.

    Returns:
        A new label array (the input is not changed); no voxel changes from one level to another.
    """
    if mm == 0:
        return labels.copy()
    if mm > 0:  # a voxel of background takes the largest neighbouring label, level voxels stay
        grown = ndimage.grey_dilation(labels, size=(2 * mm + 1,) * 3)
        return np.where(labels > 0, labels, grown).astype(labels.dtype)
    out = labels.copy()
    for v in np.unique(labels[labels > 0]):
        own = labels == v
        # border_value 1: a level cut by the box goes on past it, its cut face is no surface
        out[own & ~ndimage.binary_erosion(own, iterations=-mm, border_value=1)] = 0
    return out


__all__ = ["jitter_neighbour_masks", "move_mask_surfaces"]
