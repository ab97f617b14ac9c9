"""Sagittal overlay of C1..C7 labels on a CT, for eyes: model cards, reports, checks on real scans."""

from __future__ import annotations

import os

import numpy as np

from ..data.case import LEVELS
from ..preprocess.geometry import resample, resample_like
from ..terminology import LEVEL_COLOURS
from ..volume import CTVolume



def save_sagittal_overlay(ct: CTVolume, labels: CTVolume, path: str | os.PathLike, title: str = "",
                          window: tuple[float, float] = (1800.0, 400.0), note: str = "") -> None:
    """Write a PNG: the sagittal CT slice through the labelled spine, labels filled half-transparent.

    Args:
        ct: CT in HU (any orientation; shown resampled to 1 mm LPS, head up, anterior left).
        labels: C1..C7 labels on ``ct``'s grid.
        path: PNG to write.
        title: figure title (never put patient identifiers here).
        window: display (width, level) in HU.
        note: a line under the image (e.g. the model and its training data).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    iso = resample(ct, 1.0, axis_aligned=True)
    lab = resample_like(labels, iso, is_label=True).array
    x = int(round(np.mean(np.nonzero(lab)[2]))) if lab.any() else iso.array.shape[2] // 2
    width, level = window
    img = np.clip((iso.array[:, :, x] - (level - width / 2)) / width, 0, 1)[::-1]  # head up
    sl = lab[:, :, x][::-1]
    rgb = np.repeat(img[..., None], 3, axis=2)
    for v, colour in enumerate(LEVEL_COLOURS, start=1):
        m = sl == v
        rgb[m] = 0.45 * rgb[m] + 0.55 * np.asarray(colour)
    fig, ax = plt.subplots(figsize=(6, 7), dpi=110)
    ax.imshow(rgb, extent=(0, img.shape[1], 0, img.shape[0]))
    ax.set_xlabel("anterior → posterior (mm)")
    ax.set_ylabel("feet → head (mm)")
    ax.set_title(title or "sagittal overlay", fontsize=10)
    present = [v for v in range(1, len(LEVELS) + 1) if np.any(lab == v)]
    ax.legend(handles=[Patch(color=LEVEL_COLOURS[v - 1], label=LEVELS[v - 1]) for v in present],
              loc="lower right", fontsize=8, framealpha=0.7)
    if note:
        fig.text(0.5, 0.01, note, ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)


__all__ = ["LEVEL_COLOURS", "save_sagittal_overlay"]
