"""``evaluate``: segmentation metrics of a model on labelled data or fresh phantoms."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from ..constants import LEVELS
from ..metrics.segmentation import IDENTIFICATION_MM, level_agreement
from .segment import Segmenter

log = logging.getLogger(__name__)


def evaluate_segmentation(model: str = "default", data: str | os.PathLike | None = None,
                          phantoms: int | None = None, seed: int = 900000, device: str = "auto",
                          phantom_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Segment every case and compare with its labels.

    Args:
        model: registered name, ``default`` or a weights file written by ``export-seg``.
        data: a labelled dataset folder (case folders, RSNA 2022 or VerSe), or None.
        phantoms: number of phantoms (seeds ``seed`` .. ``seed + phantoms - 1``) when ``data`` is None.
        seed: first phantom seed; keep it away from training seeds (training uses 1000+).
        device: auto, cpu, cuda or mps.
        phantom_config: :class:`PhantomConfig` keyword arguments.

    Returns:
        JSON-ready metrics: ``dice`` {C1..C7, mean}, ``identification_rate``,
        ``centroid_error_mm`` {C1..C7, mean}, ``seconds_per_case``, ``cases``, ``seed``, ``model``
        {name, version, sha256, trained_on}, ``data``, and ``per_case``.
    """
    segmenter = Segmenter(model, device)
    if data is not None:
        from ..data.labelled_dirs import list_labelled_cases

        loaders = list_labelled_cases(data)
        source = str(data)
    else:
        from ..data.phantom_loaders import phantom_loaders

        loaders = phantom_loaders(range(seed, seed + int(phantoms or 0)), phantom_config)
        source = f"phantoms seeds {seed}..{seed + int(phantoms or 0) - 1}"
    per_case, seconds = [], []
    for key, load in loaders:
        case = load()
        t0 = time.perf_counter()
        result = segmenter.segment(case.ct)
        seconds.append(time.perf_counter() - t0)
        truth = case.labels.with_array(case.cervical_labels())
        partly = [lv for lv, e in case.truth.get("levels", {}).items() if e.get("partly_in_view")]
        per_case.append({"case": key, "seconds": round(seconds[-1], 3),
                         "levels": level_agreement(result.labels, truth), "partly_in_view": partly})
        log.info("%s: %.1fs, dice %s", key, seconds[-1],
                 {lv: round(v["dice"], 3) for lv, v in per_case[-1]["levels"].items() if v["dice"] is not None})
    return summarise(per_case, seconds) | {
        "cases": len(per_case), "seed": seed if data is None else None, "data": source,
        "model": segmenter.model_info.as_json(), "identification_threshold_mm": IDENTIFICATION_MM,
        "per_case": per_case,
    }


def summarise(per_case: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    """Aggregate per-case level agreement into the contract's metric keys.

    Per level, the mean over the cases where the level is present in the truth; ``mean`` is the
    mean over all (case, level) pairs present; the identification rate counts present levels.
    ``invented_levels`` counts levels reported where the truth has none, leaving out those a case
    lists as ``partly_in_view`` (a vertebra the scan's edge cuts is still that vertebra);
    ``cases_with_invented_levels`` the cases holding any.
    """
    invented = [[lv for lv, v in c["levels"].items()
                 if v.get("reported") and not v["present"] and lv not in c.get("partly_in_view", ())]
                for c in per_case]
    dice: dict[str, float | None] = {}
    cerr: dict[str, float | None] = {}
    all_dice, all_err, identified, present = [], [], 0, 0
    for lv in LEVELS:
        d = [c["levels"][lv]["dice"] for c in per_case if c["levels"][lv]["present"]]
        e = [c["levels"][lv]["centroid_error_mm"] for c in per_case
             if c["levels"][lv]["present"] and c["levels"][lv]["centroid_error_mm"] is not None]
        identified += sum(bool(c["levels"][lv]["identified"]) for c in per_case if c["levels"][lv]["present"])
        present += len(d)
        dice[lv] = round(float(np.mean(d)), 4) if d else None
        cerr[lv] = round(float(np.mean(e)), 2) if e else None
        all_dice += d
        all_err += e
    dice["mean"] = round(float(np.mean(all_dice)), 4) if all_dice else None
    cerr["mean"] = round(float(np.mean(all_err)), 2) if all_err else None
    return {"dice": dice, "identification_rate": round(identified / present, 4) if present else None,
            "centroid_error_mm": cerr, "seconds_per_case": round(float(np.mean(seconds)), 3) if seconds else None,
            "levels_present": present, "invented_levels": sum(map(len, invented)),
            "cases_with_invented_levels": sum(bool(i) for i in invented)}


def format_metrics(metrics: dict[str, Any]) -> str:
    """A short human-readable table of the metrics."""
    lines = [f"model {metrics['model']['name']} {metrics['model']['version']} "
             f"(trained on {metrics['model']['trained_on']}); {metrics['cases']} cases from {metrics['data']}",
             "level  dice    centroid error (mm)"]
    for lv in (*LEVELS, "mean"):
        d, e = metrics["dice"].get(lv), metrics["centroid_error_mm"].get(lv)
        lines.append(f"{lv:<6} {'-' if d is None else f'{d:.3f}':<7} {'-' if e is None else f'{e:.1f}'}")
    lines.append(f"identification rate {metrics['identification_rate']}  "
                 f"seconds per case {metrics['seconds_per_case']}")
    lines.append(f"levels in view {metrics['levels_present']}  levels invented {metrics['invented_levels']} "
                 f"(in {metrics['cases_with_invented_levels']} cases)")
    return "\n".join(lines)


__all__ = ["evaluate_segmentation", "format_metrics", "summarise"]
