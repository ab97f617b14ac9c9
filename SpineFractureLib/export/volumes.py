"""Label map and heat map as NIfTI on the input grid, written atomically (DESIGN §4)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..io.staging import staged_file
from ..volume import CTVolume


def write_volume(path: str | os.PathLike, grid: CTVolume, array: np.ndarray, dtype: type) -> Path:
    """Write ``array`` with ``grid``'s geometry (NIfTI, NRRD or MHA by the file name), atomically.

    Args:
        path: the file to write (a temporary name beside it is renamed into place on success).
        grid: the input CT (its spacing, origin and LPS direction are written; SimpleITK turns
            them into the NIfTI qform/sform, RAS on disk, as every NIfTI reader expects).
        array: (z, y, x) on ``grid``.
        dtype: the stored type (``np.uint8`` for labels, ``np.float32`` for the heat map).

    Raises:
        ValueError: ``array`` is not on ``grid``.
    """
    if array.shape != grid.array.shape:
        raise ValueError(f"array {array.shape} is not on the CT's grid {grid.array.shape}")
    image = grid.with_array(np.ascontiguousarray(array, dtype=dtype)).to_sitk()
    with staged_file(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return Path(path)


def write_labels(path: str | os.PathLike, grid: CTVolume, labels: np.ndarray) -> Path:
    """``segmentation.nii.gz``: uint8 labels 1..7 = C1..C7, 0 background, on the input grid."""
    if labels.size and (labels.min() < 0 or labels.max() > 7):
        raise ValueError(f"labels must be 0..7 (C1..C7), got {labels.min()}..{labels.max()}")
    return write_volume(path, grid, labels, np.uint8)


def write_heatmap(path: str | os.PathLike, grid: CTVolume, heat: np.ndarray) -> Path:
    """``gradcam.nii.gz``: float32 0..1 on the input grid (values outside are clipped)."""
    if heat.size and (heat.min() < 0.0 or heat.max() > 1.0):
        heat = np.clip(heat, 0.0, 1.0)  # only then: on a 512×512×400 scan every copy is 420 MB
    return write_volume(path, grid, heat, np.float32)


__all__ = ["write_heatmap", "write_labels", "write_volume"]
