"""A picture of one classified case: Grad-CAM over the CT at the most suspicious level, and the seven probabilities.

Used by the model card, the Grad-CAM benchmark and checks on real scans; the analyze report
builds on the same panels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..constants import LEVELS
from ..io.staging import staged_file
from ..preprocess.channels import bone_window
from .overlay import LEVEL_COLOURS


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
    views = (("sagittal", hu[:, :, x], labels[:, :, x], heatmap[:, :, x],
              None if truth_region is None else truth_region[:, :, x], "posterior →", "head ↑"),
             ("axial", hu[z], labels[z], heatmap[z], None if truth_region is None else truth_region[z],
              "patient's left →", "posterior ↓"))
    for ax, (name, img, lab, heat, region, xl, yl) in zip(axes[:2], views):
        flip = name == "sagittal"  # rows run feet to head: show the head up
        rgb = np.repeat(bone_window(img, 1800.0, 400.0)[..., None], 3, axis=2)
        for v, colour in enumerate(LEVEL_COLOURS, start=1):
            m = lab == v
            rgb[m] = 0.7 * rgb[m] + 0.3 * np.asarray(colour)
        ax.imshow(rgb[::-1] if flip else rgb, interpolation="nearest")
        hot = np.ma.masked_less(heat[::-1] if flip else heat, 0.05)
        ax.imshow(hot, cmap="inferno", vmin=0, vmax=1, alpha=0.55, interpolation="bilinear")
        if region is not None and region.any():
            ax.contour((region[::-1] if flip else region) > 0, levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(f"{name} slice ({'x' if flip else 'z'} = {x if flip else z})", fontsize=9)
        ax.set_xlabel(xl, fontsize=8)
        ax.set_ylabel(yl, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[2]
    vals = [0.0 if p is None else float(p) for p in probabilities]
    colours = [LEVEL_COLOURS[i] if probabilities[i] is not None else (0.85, 0.85, 0.85) for i in range(len(LEVELS))]
    ax.bar(LEVELS, vals, color=colours, edgecolor="0.2")
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    for i, p in enumerate(probabilities):
        ax.text(i, (0.02 if p is None else float(p) + 0.02), "absent" if p is None else f"{p:.2f}", ha="center",
                fontsize=7, rotation=90 if p is None else 0)
        if truth_levels is not None and truth_levels[i] == 1:
            ax.text(i, 1.04, "✱", ha="center", fontsize=11, color="tab:red")
    ax.set(ylim=(0, 1.1), ylabel="fracture probability", title="per level (✱ true fracture)" if truth_levels
           is not None else "per level")
    ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    if note:
        fig.text(0.5, 0.01, note, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


__all__ = ["save_gradcam_figure"]
