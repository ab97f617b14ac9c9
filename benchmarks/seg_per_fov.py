"""Segmentation per phantom field of view: levels in view and found, Dice, identification, levels invented.

The phantoms-v2 issue asks for its targets per field-of-view kind (mean Dice ≥ 0.92, identification
≥ 0.98 on the levels in view; nothing invented where no level is). Kind ``k`` (in the order of
:data:`KINDS`) uses seeds ``FIRST + 1000 k`` .. ``+ COUNT - 1``; keep them away from training seeds.

    python benchmarks/seg_per_fov.py --phantoms 8 --seed 1710000 [--model FILE] [--kinds neck chest]
        [--anatomy mesh] [--phantom-config JSON] [--json OUT.json]

Prints a markdown table; ``--json`` also writes every kind's metrics (with the per-case levels).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from SpineFractureLib.data.phantom.fov import FOV_KINDS
from SpineFractureLib.pipeline.evaluate import evaluate_segmentation

KINDS = FOV_KINDS  # seed offsets follow this order


def per_fov(model: str, kinds: list[str], count: int, first_seed: int, anatomy: str,
            extra: dict | None = None) -> dict[str, dict]:
    """``evaluate_segmentation`` on ``count`` phantoms of each kind (seeds as in the module docstring);
    ``extra``: more PhantomConfig fields for every kind (e.g. a scanner's voxel size, a cancellous range)."""
    out = {}
    for kind in kinds:
        seed = first_seed + 1000 * KINDS.index(kind)
        out[kind] = evaluate_segmentation(model=model, phantoms=count, seed=seed, device="cpu",
                                          phantom_config={**(extra or {}), "fov": kind, "anatomy": anatomy})
    return out


def found_in_view(metrics: dict) -> int:
    """Levels in view that the segmentation reported, over every case."""
    return sum(v["present"] and v["reported"] for c in metrics["per_case"] for v in c["levels"].values())


def found_elsewhere(metrics: dict) -> int:
    """Levels in view reported more than the identification distance from where they lie (misnamed or misplaced)."""
    return sum(v["present"] and v["reported"] and not v["identified"]
               for c in metrics["per_case"] for v in c["levels"].values())


def table(results: dict[str, dict]) -> str:
    """Markdown: one row per field-of-view kind."""
    rows = ["| field of view | cases | levels in view | found | found elsewhere | mean Dice | identification "
            "| levels invented (cases) | s per case |", "|---|---|---|---|---|---|---|---|---|"]

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    for kind, m in results.items():
        rows.append(f"| {kind} | {m['cases']} | {m['levels_present']} | {found_in_view(m)} | {found_elsewhere(m)} "
                    f"| {fmt(m['dice']['mean'])} | {fmt(m['identification_rate'])} "
                    f"| {m['invented_levels']} ({m['cases_with_invented_levels']}) | {m['seconds_per_case']:.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1710000)
    parser.add_argument("--model", default="default")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--anatomy", default="procedural", choices=("procedural", "mesh"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--phantom-config", type=json.loads, default=None, metavar="JSON",
                        help='more PhantomConfig fields for every kind, e.g. \'{"cancellous_hu": [80, 170]}\'')
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = per_fov(args.model, args.kinds, args.phantoms, args.seed, args.anatomy, args.phantom_config)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
