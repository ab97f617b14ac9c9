"""Reliability diagram of a classifier's calibrated probabilities (model card, evaluation)."""

from __future__ import annotations

import os
from typing import Any

from ..io.staging import staged_file


def save_reliability_diagram(metrics: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a PNG: observed fracture rate against mean predicted probability per bin, levels and patients.

    Args:
        metrics: the output of ``evaluate_classification`` (``reliability``, ``ece``, ``model``, ``data``).
        path: PNG to write (temporary name, then rename).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), dpi=110)
    for ax, key, label in zip(axes, ("level", "patient"), ("vertebra level", "patient")):
        bins = metrics["reliability"][key]
        pts = [(p, r, n) for p, r, n in zip(bins["mean_probability"], bins["observed_rate"], bins["count"])
               if p is not None and n > 0]
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
        if pts:
            xs, ys, ns = zip(*pts)
            floor = metrics.get("ece_if_calibrated", {}).get(key)
            note = "" if floor is None else f"; a calibrated model here: {floor['expected']:.3f}"
            ax.plot(xs, ys, "o-", color="tab:red", label=f"model (ECE {metrics['ece'][key]:.3f}{note})")
            for x, y, n in pts:
                ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color="0.3")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", ylabel="observed fracture rate",
               title=f"{label}: {sum(bins['count'])} predictions")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    m = metrics["model"]
    fig.suptitle(f"{m['name']} {m['version']} — trained on {m['trained_on']}; research use only\n"
                 f"{metrics['cases']} cases: {metrics['data']} (numbers: predictions per bin)", fontsize=9)
    fig.tight_layout()
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


__all__ = ["save_reliability_diagram"]
