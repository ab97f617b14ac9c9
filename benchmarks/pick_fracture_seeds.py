"""Seeds whose phantoms hold a given fracture kind, found by a dry run of the generator.

Rare kinds (a dens fracture is about one neck phantom in twenty, one head-and-upper-neck phantom in
five) need sets picked for them, for training or for a held-out evaluation of that kind.
``planned_fractures`` draws the anatomy, scan and fractures without the voxels (0.1-0.4 s a seed):

    python benchmarks/pick_fracture_seeds.py --first 1878000 --want 24 --kind dens \
        [--phantom-config '{"fov": "head-upper-neck"}'] [--json SETS.json]

Prints the seeds picked and how many were tried; ``--json`` writes them as phantom sets
(``[{"seeds": [seed, 1], "config": {...}}, ...]``) for a training config's ``extra_phantoms`` or
``seg_per_fov``-style runs. Say which seeds were tried: the unpicked ones were read too.
"""

from __future__ import annotations

import argparse
import json
import logging

from SpineFractureLib.data.phantom import PhantomConfig, planned_fractures


def pick(first: int, want: int, kinds: list[str], config: dict, limit: int) -> tuple[list[int], int]:
    """The first ``want`` seeds from ``first`` on with a fracture of one of ``kinds`` (a prefix of
    the truth's kind: "compression" matches "compression:wedge"), and how many seeds were tried."""
    cfg = PhantomConfig(**config)
    picked: list[int] = []
    seed = first
    while len(picked) < want and seed < first + limit:
        if any(k.startswith(tuple(kinds)) for k in planned_fractures(seed, cfg).values()):
            picked.append(seed)
        seed += 1
    return picked, seed - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--want", type=int, required=True)
    parser.add_argument("--kind", action="append", required=True, help="fracture kind (repeat for several)")
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON")
    parser.add_argument("--limit", type=int, default=5000, help="most seeds tried")
    parser.add_argument("--json", default=None, help="write the picked seeds as phantom sets")
    a = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    picked, tried = pick(a.first, a.want, a.kind, a.phantom_config, a.limit)
    print(f"{len(picked)} picked of {tried} seeds tried ({a.first}-{a.first + tried - 1}): {picked}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump([{"seeds": [s, 1], "config": a.phantom_config} for s in picked], f)


if __name__ == "__main__":
    main()
