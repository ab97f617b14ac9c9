"""The panels every picture of a classified case is made of: a bone-window slice with the levels
and the heat map, and the bar chart of the seven probabilities against the threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..constants import LEVELS
from ..preprocess.channels import bone_window
from ..terminology import LEVEL_COLOURS


def draw_slice(ax, hu: np.ndarray, labels: np.ndarray, heat: np.ndarray | None, region: np.ndarray | None,
               title: str, xlabel: str, ylabel: str, head_up: bool) -> None:
    """One 2D slice: bone window (1800/400), levels tinted, heat map over it, true region outlined.

    Args:
        ax: a matplotlib axis.
        hu, labels, heat, region: 2D arrays of one slice (rows, columns); heat and region may be None.
        title, xlabel, ylabel: axis texts (never patient identifiers).
        head_up: the rows run feet to head (sagittal, coronal): flip them so the head is up.
    """
    flip = (lambda a: a[::-1]) if head_up else (lambda a: a)
    rgb = np.repeat(bone_window(hu, 1800.0, 400.0)[..., None], 3, axis=2)
    for v, colour in enumerate(LEVEL_COLOURS, start=1):
        m = labels == v
        rgb[m] = 0.7 * rgb[m] + 0.3 * np.asarray(colour)
    ax.imshow(flip(rgb), interpolation="nearest")
    if heat is not None:
        ax.imshow(np.ma.masked_less(flip(heat), 0.05), cmap="inferno", vmin=0, vmax=1, alpha=0.55,
                  interpolation="bilinear")
    if region is not None and region.any():
        ax.contour(flip(region) > 0, levels=[0.5], colors="white", linewidths=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_probability_bars(ax, probabilities: Sequence[float | None], threshold: float | None,
                          truth_levels: Sequence[int] | None = None) -> None:
    """Bars of the fracture probability per level C1..C7 ("absent" where None), the threshold
    dashed, true fractures starred when known."""
    vals = [0.0 if p is None else float(p) for p in probabilities]
    colours = [LEVEL_COLOURS[i] if probabilities[i] is not None else (0.85, 0.85, 0.85) for i in range(len(LEVELS))]
    ax.bar(LEVELS, vals, color=colours, edgecolor="0.2")
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=1)
    for i, p in enumerate(probabilities):
        ax.text(i, (0.02 if p is None else float(p) + 0.02), "absent" if p is None else f"{p:.2f}", ha="center",
                fontsize=7, rotation=90 if p is None else 0)
        if truth_levels is not None and truth_levels[i] == 1:
            ax.text(i, 1.09, "\u2731", ha="center", fontsize=11, color="tab:red")
    # Said in the title, not a legend: a legend box in the upper corner hid the stars of C6-C7.
    keys = (["\u2731 true fracture"] if truth_levels is not None else []) + \
        ([f"dashed: threshold {threshold:.2f}"] if threshold is not None else [])
    ax.set(ylim=(0, 1.16), ylabel="fracture probability")
    ax.set_title("per level" + (f" ({'; '.join(keys)})" if keys else ""), fontsize=10)


__all__ = ["draw_probability_bars", "draw_slice"]
