"""A PNG to look at a labelled case: mid-sagittal and mid-coronal slices in a bone window,
vertebra labels outlined, fracture regions in red."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..case import LEVELS, LabelledCase

#: Bone window (width, level) in HU, the first of the seed method's three.
BONE_WINDOW = (1800.0, 400.0)
LEVEL_COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
                 "#bfef45", "#fabed4"]


def save_preview(case: LabelledCase, path: str | os.PathLike, title: str | None = None) -> Path:
    """Write the preview PNG of ``case`` (arrays (z, y, x); slices drawn with true mm aspect).

    The sagittal and coronal planes pass through the centroid of the labelled vertebrae (the
    middle of the volume if none is labelled).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct, labels = case.ct.array, case.labels.array
    fracture = case.fracture.array if case.fracture is not None else np.zeros_like(labels)
    spine = np.argwhere((labels > 0) & (labels <= len(LEVELS)))
    k, j, i = (spine.mean(axis=0).round().astype(int) if spine.size else np.array(ct.shape) // 2)
    sx, sy, sz = case.ct.spacing
    width, level = BONE_WINDOW
    views = [
        ("sagittal (i = %d)" % i, ct[:, :, i], labels[:, :, i], fracture[:, :, i], sy, sz),
        ("coronal (j = %d)" % j, ct[:, j, :], labels[:, j, :], fracture[:, j, :], sx, sz),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 7), facecolor="black")
    for ax, (name, img, lab, frac, s_col, s_row) in zip(axes, views):
        extent = (0, img.shape[1] * s_col, 0, img.shape[0] * s_row)  # mm; row 0 (feet) at bottom
        ax.imshow(img, cmap="gray", vmin=level - width / 2, vmax=level + width / 2, origin="lower",
                  extent=extent, interpolation="bilinear")
        for value in range(1, 10):
            if np.any(lab == value):
                ax.contour((lab == value).astype(float), levels=[0.5], colors=[LEVEL_COLOURS[value - 1]],
                           linewidths=0.8, origin="lower", extent=extent)
        if np.any(frac):
            ax.contourf(frac.astype(float), levels=[0.5, 1.5], colors=["red"], alpha=0.6, origin="lower",
                        extent=extent)
        ax.set_title(name, color="white", fontsize=10)
        ax.set_xlabel("mm", color="white")
        ax.tick_params(colors="white", labelsize=7)
    truth = case.truth.get("levels", {})  # no legend for cases without truth (real scans)
    lines = []
    for idx, lv in enumerate(LEVELS if truth else ()):
        t = truth.get(lv, {})
        state = "absent" if not t.get("present", True) else (
            f"FRACTURE {t.get('kind')} G{t.get('genant_grade', 0)}" if t.get("fractured") else "intact")
        lines.append((lv, state, LEVEL_COLOURS[idx]))
    for n, (lv, state, colour) in enumerate(lines):
        fig.text(0.02 + 0.245 * (n % 4), 0.06 - 0.03 * (n // 4), f"{lv}: {state}", color=colour, fontsize=8)
    fig.suptitle(title or f"{case.case_id}  ({case.ct.shape_xyz[0]}×{case.ct.shape_xyz[1]}×"
                 f"{case.ct.shape_xyz[2]} at {sx:.2f}×{sy:.2f}×{sz:.2f} mm; synthetic phantom)",
                 color="white", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, facecolor="black")
    plt.close(fig)
    return path
