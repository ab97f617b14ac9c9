"""How a classifier judges a vertebra that the scan's edge cuts in two (held-out phantoms).

For every prepared phantom, the scan is made to end inside its top level and, separately, inside
its bottom level (``train.fov_cut``: the slices beyond a plane removed, as a shorter scan would
have them; cuts that would hide a fracture are skipped). The cut level is classified with the
rest of the column and compared with the same level in the whole scan.

    python benchmarks/cls_fov_cut.py --cache CACHE --seeds 900831 169 [--model default] \
        [--segmentation default] [--kept 0.5] [--phantom-config JSON] [--json OUT]

Prints, per end and for both ends together: levels cut, intact levels over the balanced threshold
(cut vs whole), mean intact probability, the AUC over cut levels, and how many cuts were skipped.
``--json`` rows (with the classifier's balanced level threshold) are what ``cls_candidate_check.py
--cut`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import torch

from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.phantom_loaders import phantom_loaders
from SpineFractureLib.metrics.classification import roc_auc
from SpineFractureLib.models.registry import segmenter_tag
from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.train.fov_cut import cut_field_of_view, cut_plane, end_levels, level_z_ranges

log = logging.getLogger("cls_fov_cut")


def probabilities(clf: Classifier, sample) -> list[float | None]:
    """Every level's fracture probability for a prepared case (None where the level is absent)."""
    return clf.classify(sample.hu.astype(np.float32), sample.predicted,
                        sample.fracture_prob.astype(np.float32) / 255.0, gradcam=False).probabilities


def cut_records(clf: Classifier, sample, kept: float) -> list[dict]:
    """For each end: the end level's probability in the whole scan and in the scan cut through it."""
    ranges = level_z_ranges(sample.predicted)
    if not ranges:  # the segmentation found no level: nothing to cut
        return []
    whole = probabilities(clf, sample)
    threshold = clf.loaded.calibration.threshold("balanced", "level")
    bias = clf.loaded.calibration.cut_level_bias
    rows = []
    for end in ("top", "bottom"):
        level = end_levels(ranges, end)[0]
        row = {"case": sample.case_id, "end": end, "level": level, "target": int(sample.fractured[level - 1]),
               "whole": whole[level - 1], "cut": None, "threshold": threshold,
               "applied_bias": float(bias.get(end, 0.0))}
        cut = cut_field_of_view(sample, end, cut_plane(ranges[level], end, kept))
        if cut is not None:
            row["cut"] = probabilities(clf, cut)[level - 1]
        rows.append(row)
    return rows


def summary(rows: list[dict], threshold: float) -> dict:
    """Figures of a set of records (levels with a known target and a cut made)."""
    done = [r for r in rows if r["cut"] is not None and r["target"] >= 0]
    t = np.array([r["target"] for r in done])
    out = {"levels": len(done), "fractured": int(t.sum()), "skipped": sum(r["cut"] is None for r in rows)}
    for key in ("whole", "cut"):
        p = np.array([r[key] for r in done], float)
        intact = p[t == 0]
        out[key] = {"intact_over_threshold": round(float((intact >= threshold).mean()), 3) if intact.size else None,
                    "intact_mean": round(float(intact.mean()), 3) if intact.size else None,
                    "auc": round(roc_auc(t, p), 3) if 0 < t.sum() < len(t) else None}
    return out


def held_out_cases(cache: str, seeds: tuple[int, int], phantom_config: dict | None,
                   segmentation: str = "default") -> ClsCache:
    """Prepared phantoms ``seeds`` = (first, count), segmented by ``segmentation`` (cached in ``cache``)."""
    first, count = seeds
    return ClsCache(phantom_loaders(range(first, first + count), phantom_config or {}), cache,
                    lambda: Segmenter(segmentation, "cpu"), tag=segmenter_tag(segmentation))


def print_report(clf: Classifier, rows: list[dict], group_key: str, groups: tuple[str, ...], json_path: str | None,
                 **extra) -> None:
    """Print the summary of all records and of each group (``row[group_key]``); write the records to ``json_path``."""
    threshold = clf.loaded.calibration.threshold("balanced", "level")
    report = {"model": f"{clf.model_info.name} {clf.model_info.version}", "threshold": round(threshold, 3),
              **extra, "all": summary(rows, threshold),
              **{g: summary([r for r in rows if r[group_key] == g], threshold) for g in groups}}
    print(json.dumps(report, indent=1))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--seeds", nargs=2, type=int, required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--segmentation", default="default", help="segmentation weights whose masks the classifier reads")
    parser.add_argument("--kept", type=float, default=0.5, help="share of the cut level's slices kept")
    parser.add_argument("--phantom-config", type=json.loads, default=None)
    parser.add_argument("--json", help="also write the per-level records here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    cache = held_out_cases(args.cache, args.seeds, args.phantom_config, args.segmentation)
    clf = Classifier(args.model, "cpu")
    rows = []
    for i in range(len(cache)):
        rows += cut_records(clf, cache[i], args.kept)
    print_report(clf, rows, "end", ("top", "bottom"), args.json, kept=args.kept)


if __name__ == "__main__":
    main()
