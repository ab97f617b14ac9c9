"""Genant's semi-quantitative grade of a vertebral compression, and where the body's heights are
read: one definition for the phantom truth and for the measurements (the lowest layer, beside :mod:`SpineFractureLib.constants`).

Genant et al., J Bone Miner Res 1993: grade 0 below 20 % loss of height, 1 for 20–25 %,
2 for 25–40 %, 3 above 40 %.
"""

from __future__ import annotations

#: v positions (fraction of the body's half-depth from its middle, negative anterior) of the
#: three lines on the mid-sagittal plane along which the body's heights are read.
HEIGHT_POINTS: dict[str, float] = {"anterior": -0.85, "middle": 0.0, "posterior": 0.85}
#: (lowest relative height reduction, grade), highest grade first.
GENANT_THRESHOLDS: tuple[tuple[float, int], ...] = ((0.40, 3), (0.25, 2), (0.20, 1))


def genant_grade(reduction: float) -> int:
    """Genant grade (0–3) of a relative height reduction (0..1)."""
    for threshold, grade in GENANT_THRESHOLDS:
        if reduction >= threshold:
            return grade
    return 0


__all__ = ["GENANT_THRESHOLDS", "HEIGHT_POINTS", "genant_grade"]
