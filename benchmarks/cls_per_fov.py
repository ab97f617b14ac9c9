"""Fracture classification per phantom field of view: AUC, operating point and log loss per kind.

The phantoms-v2 issue asks for macro fracture AUC ≥ 0.95 per field-of-view kind. Each phantom is
segmented by the segmentation model (so a level the segmenter misses counts as missed, as in use)
and classified; only levels in view are judged. Kind ``k`` (in the order of
:data:`~SpineFractureLib.data.phantom.fov.FOV_KINDS`) uses seeds ``FIRST + 1000 k`` ..
``+ COUNT - 1``; keep them away from training seeds.

    python benchmarks/cls_per_fov.py --phantoms 12 --seed 1720000 [--model default] \
        [--segmentation default] [--kinds neck chest] [--anatomy mesh] [--cache DIR] [--json OUT.json] \
        [--phantom-config '{"spacing": [3.2, 3.2, 1.5], "psf_fwhm_mm": 2.0, "antialias": true}']

Prints a markdown table; ``--json`` also writes every kind's full metrics (with the per-case levels).
The macro AUC averages the levels that have both a fractured and an intact case in view, so on a
kind that shows few levels (chest: C5–C7) it rests on few levels; the pooled AUC is over all of them.
``--phantom-config`` adds ``PhantomConfig`` fields to every kind (a scanner's voxel size, texture);
cached cases are keyed by the whole config, so one cache folder serves several.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from SpineFractureLib.data.phantom.fov import FOV_KINDS
from SpineFractureLib.pipeline.evaluate_cls import evaluate_classification

#: Kinds with a cervical spine in view (head and abdomen have none: nothing to classify).
SPINE_KINDS = tuple(k for k in FOV_KINDS if k not in ("head", "abdomen"))


def per_fov(model: str, segmentation: str, kinds: list[str], count: int, first_seed: int, anatomy: str,
            cache: Path | None, extra: dict | None = None) -> dict[str, dict]:
    """``evaluate_classification`` on ``count`` phantoms of each kind (seeds as in the module docstring);
    ``extra``: more PhantomConfig fields for every kind."""
    out = {}
    for kind in kinds:
        seed = first_seed + 1000 * FOV_KINDS.index(kind)
        out[kind] = evaluate_classification(
            model=model, segmentation=segmentation, phantoms=count, seed=seed, device="cpu",
            phantom_config={"fov": kind, "anatomy": anatomy} | (extra or {}), gradcam=False,
            cache=None if cache is None else cache / f"{anatomy}-{kind}")
    return out


def judged_levels(metrics: dict) -> tuple[int, int]:
    """(levels in view with a known target, of which fractured), over every case."""
    entries = [e for c in metrics["per_case"] for e in c["levels"].values() if e["target"] >= 0]
    return len(entries), sum(e["target"] == 1 for e in entries)


def table(results: dict[str, dict]) -> str:
    """Markdown: one row per field-of-view kind."""
    rows = ["| field of view | cases | levels in view (fractured) | levels missed | macro AUC | pooled AUC "
            "| patient AUC | sensitivity / specificity | RSNA log loss | classifier s per case |",
            "|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    for kind, m in results.items():
        levels, fractured = judged_levels(m)
        point = m["operating_points"].get("balanced", {})
        rows.append(f"| {kind} | {m['cases']} | {levels} ({fractured}) | {m['levels_missed']} "
                    f"| {fmt(m['auc']['macro'])} | {fmt(m['auc']['pooled'])} | {fmt(m['auc']['patient'])} "
                    f"| {fmt(point.get('sensitivity'))} / {fmt(point.get('specificity'))} "
                    f"| {fmt(m['rsna_log_loss'])} | {m['seconds_per_case'] or 0:.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1720000)
    parser.add_argument("--model", default="default", help="classifier")
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--kinds", nargs="*", default=list(SPINE_KINDS), choices=FOV_KINDS)
    parser.add_argument("--anatomy", default="procedural", choices=("procedural", "mesh"))
    parser.add_argument("--cache", type=Path, help="folder caching each case's segmentation")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--phantom-config", type=json.loads, default=None, metavar="JSON",
                        help="more PhantomConfig fields for every kind, e.g. a coarse scanner")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = per_fov(args.model, args.segmentation, args.kinds, args.phantoms, args.seed, args.anatomy, args.cache,
                      args.phantom_config)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
