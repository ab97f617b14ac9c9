"""The demo's phantom: a fractured neck CT, small enough to analyse in seconds on a laptop.

One definition for ``spinefracture demo`` and the Slicer module's *Load sample* button, so both show
the same case with the same known fracture.
"""

from __future__ import annotations

from .case import LabelledCase

#: Seed of the demo phantom (outside every training and validation seed range).
DEMO_SEED = 900100


def make_demo_case() -> LabelledCase:
    """The demo phantom: 128×128×150 voxels of 0.8×0.8×1.0 mm, at least one fractured level, C1–C7
    all in view. Its ``truth["levels"]`` names the fractured levels and their kinds."""
    from .phantom import PhantomConfig, make_phantom

    return make_phantom(DEMO_SEED, PhantomConfig(size_xyz=(128, 128, 150), spacing=(0.8, 0.8, 1.0),
                                                 fracture_rate=1.0, difficulty=0.1, cut_probability=0.0))


def fractured_levels(case: LabelledCase) -> list[str]:
    """The levels the case's truth marks fractured, head to feet."""
    return [lv for lv, t in case.truth.get("levels", {}).items() if t.get("fractured")]


__all__ = ["DEMO_SEED", "fractured_levels", "make_demo_case"]
