"""``report.png``: the one picture of an analysis.

Mid-sagittal and coronal bone-window slices (1 mm, head up) with the levels coloured and the
Grad-CAM heat map on the suspicious levels only, a bar chart of the seven probabilities with
the threshold, and the line that says what the models were trained on.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import ndimage

from ..constants import LEVELS
from ..io.staging import staged_file
from ..preprocess.geometry import resample, resample_like
from ..volume import CTVolume, box_around_labels
from .panels import draw_probability_bars, draw_slice

#: Margin (mm) kept around the labelled levels in the pictures.
MARGIN_MM = 35
#: Heat is shown within this distance (mm) of a suspicious level's mask.
HEAT_REACH_MM = 6
PHANTOM_LINE = "Research use only, not for diagnosis. Shipped models are trained on synthetic phantoms."


def suspicious_heat(heat: np.ndarray, labels: np.ndarray, suspicious: list[int]) -> np.ndarray:
    """The heat map kept only near the levels (label values) whose decision is "fracture"."""
    if not suspicious:
        return np.zeros_like(heat)
    near = ndimage.binary_dilation(np.isin(labels, suspicious), iterations=HEAT_REACH_MM)
    return np.where(near, heat, 0.0)


def save_report_png(ct: CTVolume, labels: CTVolume, heat: np.ndarray | None, probabilities: list[float | None],
                    decisions: list[bool | None], threshold: float | None, path: str | os.PathLike,
                    title: str = "", note: str = PHANTOM_LINE) -> None:
    """Write report.png.

    Args:
        ct: the CT in HU (any orientation; shown resampled to 1 mm LPS).
        labels: C1..C7 labels on ``ct``'s grid.
        heat: Grad-CAM 0..1 (z, y, x) on ``ct``'s grid, or None.
        probabilities, decisions: per level C1..C7 (None where absent or without a classifier).
        threshold: the decision threshold, or None.
        path: the PNG (written atomically).
        title: figure title (never patient identifiers).
        note: the line under the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    box = box_around_labels(labels.array, ct.spacing, MARGIN_MM + 5.0)
    if box is not None:  # resample only the spine and its surroundings, not a whole 512×512×400 scan
        (z0, y0, x0), (z1, y1, x1) = box
        ct, labels = ct.sub_volume(*box), labels.sub_volume(*box)
        heat = None if heat is None else heat[z0:z1, y0:y1, x0:x1]
    iso = resample(ct, 1.0, axis_aligned=True)
    lab = resample_like(labels, iso, is_label=True).array
    hot = np.zeros(iso.array.shape, np.float32) if heat is None else \
        resample_like(ct.with_array(heat.astype(np.float32)), iso).array
    hot = suspicious_heat(hot, lab, [i + 1 for i, d in enumerate(decisions) if d])
    hu = iso.array
    if lab.any():
        idx = np.argwhere(lab > 0)
        lo = np.maximum(idx.min(axis=0) - MARGIN_MM, 0)
        hi = np.minimum(idx.max(axis=0) + MARGIN_MM + 1, lab.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        hu, lab, hot = hu[box], lab[box], hot[box]
        x = int(round(np.median(np.argwhere(lab > 0)[:, 2])))
    else:
        x = hu.shape[2] // 2
    ys = body_line(lab)
    fig, axes = plt.subplots(1, 3, figsize=(13, 6), dpi=100, gridspec_kw={"width_ratios": [1.0, 1.0, 1.1]})
    sag, rows = (slice(None), slice(None), x), np.arange(hu.shape[0])
    cor = (rows, ys)  # one row per slice, at the bodies' depth there: a coronal view curved along the column
    draw_slice(axes[0], hu[sag], lab[sag], hot[sag], None, "mid-sagittal", "anterior → posterior", "head ↑",
               head_up=True)
    draw_slice(axes[1], hu[cor], lab[cor], hot[cor], None, "coronal, curved along the vertebral bodies",
               "patient's right → left", "head ↑", head_up=True)
    for ax, view in ((axes[0], lab[sag]), (axes[1], lab[cor])):
        _name_levels(ax, view)
    if any(p is not None for p in probabilities):
        draw_probability_bars(axes[2], probabilities, threshold)
    else:
        axes[2].axis("off")
        axes[2].text(0.5, 0.5, "no fracture probabilities\n(no classifier, or no level found)", ha="center",
                     va="center", fontsize=10)
    fig.suptitle(title or "SpineFracture analysis", fontsize=11)
    fig.text(0.5, 0.01, note, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def body_line(lab: np.ndarray) -> np.ndarray:
    """Per slice z of a (z, y, x) label array, the row y through the vertebral bodies (the front
    quarter of the labelled voxels of that slice), filled in between labelled slices and smoothed."""
    z_n, y_n = lab.shape[:2]
    ys = np.full(z_n, np.nan)
    for z in range(z_n):
        rows = np.nonzero(lab[z].any(axis=1))[0]
        if rows.size:
            ys[z] = np.percentile(np.nonzero(lab[z])[0], 25)
    known = np.flatnonzero(~np.isnan(ys))
    if not known.size:
        return np.full(z_n, y_n // 2)
    ys = np.interp(np.arange(z_n), known, ys[known])
    ys = ndimage.median_filter(ys, size=9, mode="nearest")
    return np.clip(np.round(ys), 0, y_n - 1).astype(int)


def _name_levels(ax, lab: np.ndarray) -> None:
    """Write each level's name beside it on a head-up slice."""
    rows = lab.shape[0]
    for v, name in enumerate(LEVELS, start=1):
        where = np.argwhere(lab == v)
        if len(where):
            r, c = where.mean(axis=0)
            ax.text(where[:, 1].min() - 2, rows - 1 - r, name, color="white", fontsize=7, ha="right", va="center")


__all__ = ["PHANTOM_LINE", "save_report_png", "suspicious_heat"]
