"""A picture of one classified case: Grad-CAM over the CT at the most suspicious level, and the seven probabilities.

Used by the model card, the Grad-CAM benchmark and checks on real scans; the analyze report
builds on the same panels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..io.staging import staged_file
from .panels import draw_probability_bars, draw_slice


def save_gradcam_figure(hu: np.ndarray, labels: np.ndarray, heatmap: np.ndarray,
                        probabilities: Sequence[float | None], threshold: float, path: str | os.PathLike, *,
                        peak_zyx: Sequence[tuple[int, int, int] | None] | None = None,
                        truth_region: np.ndarray | None = None, truth_levels: Sequence[int] | None = None,
                        title: str = "", note: str = "") -> None:
    """Write a PNG: sagittal and axial bone-window slices with levels and heat map, and a bar chart.

    The slices pass through the heat-map peak of the most probable present level (or the labels'
    centre when no peak is known).

    Args:
        hu: HU (z, y, x) of a 1 mm crop with identity direction (z towards the head, y towards
            posterior, x towards the patient's left: LPS).
        labels: C1..C7 labels (z, y, x) on the same grid.
        heatmap: Grad-CAM (z, y, x) in [0, 1] on the same grid.
        probabilities: fracture probability per level C1..C7 (None where absent).
        threshold: the decision threshold drawn on the bar chart.
        path: PNG to write (temporary name, then rename).
        peak_zyx: per level, the heat-map peak voxel (None where absent).
        truth_region: optional true fracture region (z, y, x), outlined in white.
        truth_levels: optional 0/1 per level (-1 unknown): true fractures marked on the bars.
        title: figure title (never patient identifiers).
        note: a line under the figure (model, training data).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [i for i, p in enumerate(probabilities) if p is not None]
    centre = np.array(np.nonzero(labels)).mean(axis=1).round().astype(int) if labels.any() else \
        np.array(hu.shape) // 2
    if present:
        top = max(present, key=lambda i: probabilities[i])  # type: ignore[arg-type, return-value]
        if peak_zyx is not None and peak_zyx[top] is not None:
            centre = np.asarray(peak_zyx[top])
    z, _, x = (int(c) for c in centre)
    fig, axes = plt.subplots(1, 3, figsize=(13, 5.2), dpi=100, gridspec_kw={"width_ratios": [1.1, 1.1, 1.0]})
    region = (lambda cut: None) if truth_region is None else (lambda cut: truth_region[cut])
    sag, axial = (slice(None), slice(None), x), (z,)
    draw_slice(axes[0], hu[sag], labels[sag], heatmap[sag], region(sag), f"sagittal slice (x = {x})",
               "posterior →", "head ↑", head_up=True)
    draw_slice(axes[1], hu[axial], labels[axial], heatmap[axial], region(axial), f"axial slice (z = {z})",
               "patient's left →", "posterior ↓", head_up=False)
    draw_probability_bars(axes[2], probabilities, threshold, truth_levels)
    fig.suptitle(title, fontsize=10)
    if note:
        fig.text(0.5, 0.01, note, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


__all__ = ["save_gradcam_figure"]
