"""How many drawn fractures each field of view leaves out because the scan would not show them.

Generator 1.3 does not draw a fracture the scan holds less than half of
(:mod:`SpineFractureLib.data.phantom.fracture_view`); its truth lists such levels in
``fractures_out_of_view``. This script counts them per field-of-view kind and anatomy, on phantoms
drawn with every patient fractured and 3 mm voxels (the field of view, and so what falls outside it,
does not depend on the voxel size; the phantoms are quicker to draw):

    python benchmarks/fracture_view_share.py --phantoms 100 --seed 1846000 [--kinds neck chest] [--anatomy mesh]

Prints a markdown table: fractures drawn, fractures left out, and which levels and kinds.
"""

from __future__ import annotations

import argparse
import collections

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom.fov import FOV_KINDS

#: Kinds that hold cervical levels (head and abdomen have none to fracture).
KINDS = tuple(k for k in FOV_KINDS if k not in ("head", "abdomen"))


def count(kind: str, anatomy: str, first: int, n: int) -> tuple[int, collections.Counter]:
    """(fractures drawn, Counter of "level kind" left out) over seeds ``first``.. ``first + n - 1``."""
    drawn, left_out = 0, collections.Counter()
    for seed in range(first, first + n):
        case = make_phantom(seed, PhantomConfig(fov=kind, anatomy=anatomy, fracture_rate=1.0, spacing=(3.0, 3.0, 3.0),
                                                noise_hu=0.0, streak_probability=0.0))
        drawn += sum(bool(t["fractured"]) for t in case.truth["levels"].values())
        left_out.update(case.truth["fractures_out_of_view"])
    return drawn, left_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=100)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--anatomy", nargs="+", default=["procedural", "mesh"], choices=["procedural", "mesh"])
    a = parser.parse_args()
    print("| anatomy | field of view | phantoms | fractures drawn | left out (share of all) | levels left out |")
    print("|---|---|---|---|---|---|")
    for anatomy in a.anatomy:
        for kind in a.kinds:
            drawn, left_out = count(kind, anatomy, a.seed, a.phantoms)
            total = drawn + sum(left_out.values())
            share = sum(left_out.values()) / max(total, 1)
            print(f"| {anatomy} | {kind} | {a.phantoms} | {drawn} | {sum(left_out.values())} ({share:.1%}) | "
                  f"{', '.join(f'{lv} ×{c}' for lv, c in sorted(left_out.items())) or '–'} |", flush=True)


if __name__ == "__main__":
    main()
