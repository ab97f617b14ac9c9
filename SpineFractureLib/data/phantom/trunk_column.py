"""The spine below T2 for fields of view that reach the trunk: T3–T12 and L1–L3 on a kyphotic
thoracic and lordotic lumbar curve.

Sizes (mm) follow published thoracolumbar morphometry (Panjabi et al., Spine 1991 and 1992):
bodies grow from about 27 × 19 × 17 mm (width × depth × height) at T3 to 46 × 33 × 27 mm at L3;
thoracic discs 4.5–6.5 mm, lumbar 8–11 mm; the thoracic canal is the narrowest (about 16 mm
wide). Label values are the VerSe ones: 10..19 = T3..T12, 20..22 = L1..L3.
"""

from __future__ import annotations

import numpy as np

from ...constants import LEVELS, LUMBAR, THORACIC
from .anatomy import LevelShape
from .layout import Column, Frame, rotation_x, rotation_y, rotation_z

Array = np.ndarray


def _thoracic(i: int) -> LevelShape:
    """T3..T12 (i = 3..12): sizes interpolated between T3 and T12."""
    t = (i - 3) / 9.0
    lerp = lambda a, b: a + (b - a) * t  # noqa: E731
    return LevelShape(f"T{i}", len(LEVELS) + i, "thoracic", lerp(27.0, 40.0), lerp(19.0, 30.0), lerp(17.0, 23.0),
                      lerp(8.0, 9.5), lerp(14.0, 16.0), lerp(30.0, 28.0), False, 0.0)


#: T3..T12 then L1..L3 (head to feet); the generator scales and jitters them per patient.
LOWER_REFERENCE: tuple[LevelShape, ...] = tuple(_thoracic(i) for i in range(3, 13)) + tuple(
    LevelShape(name, len(LEVELS) + len(THORACIC) + k + 1, "lumbar", w, d, h, cw, 16.0, sp, False, 0.0)
    for k, (name, w, d, h, cw, sp) in enumerate(zip(LUMBAR[:3], (42.0, 44.0, 46.0), (31.0, 32.0, 33.0),
                                                     (25.0, 26.0, 27.0), (11.0, 11.5, 12.0), (26.0, 27.0, 28.0))))


def extend_column(rng: np.random.Generator, col: Column, size: float) -> Column:
    """The column with T3..L3 stacked below T2.

    Args:
        rng: a random stream of its own (the neck's draws stay those of a neck phantom).
        col: the laid-out occiput–T2 column.
        size: the patient's scale factor.

    Returns:
        A new Column: every level of ``col`` unchanged, the lower ones added, body line extended.
    """
    shapes, frames, gaps = dict(col.shapes), dict(col.frames), dict(col.disc_gaps)
    above = "T2"
    z = {above: float(col.frames[above].centre[2])}
    y0 = float(col.frames[above].centre[1])
    for ref in LOWER_REFERENCE:
        s = ref.scaled(size * rng.uniform(0.97, 1.03))
        gaps[s.name] = float(rng.uniform(8.0, 11.0) if s.kind == "lumbar" else rng.uniform(4.5, 6.5)) * size
        z[s.name] = z[above] - shapes[above].height / 2 - gaps[s.name] - s.height / 2
        shapes[s.name] = s
        above = s.name
    kyphosis = rng.uniform(15.0, 35.0) * size  # posterior bow of the thoracic spine
    lordosis = rng.uniform(10.0, 30.0) * size  # anterior bow of the lumbar spine
    z_t2, z_t12, z_l3 = z["T2"], z["T12"], z["L3"]

    def curve(zz: Array) -> Array:
        zz = np.asarray(zz, float)
        t = np.clip((z_t2 - zz) / (z_t2 - z_t12), 0.0, 1.0)
        t2 = np.clip((z_t12 - zz) / (z_t12 - z_l3), 0.0, 1.0)
        return y0 + kyphosis * np.sin(np.pi * t) - lordosis * np.sin(0.5 * np.pi * t2)

    for ref in LOWER_REFERENCE:
        name = ref.name
        slope = (curve(z[name] + 1.0) - curve(z[name] - 1.0)) / 2.0
        jitter = rng.normal(0.0, np.radians(1.5), 3)
        rot = rotation_x(-np.arctan(slope) + jitter[0]) @ rotation_y(jitter[1]) @ rotation_z(jitter[2])
        frames[name] = Frame(rot, np.array([0.0, float(curve(z[name])), z[name]]))
    names = list(frames)
    order = np.argsort([frames[n].centre[2] for n in names])
    zs = np.array([frames[names[i]].centre[2] for i in order])
    ys = np.array([frames[names[i]].centre[1] for i in order])
    return Column(shapes, frames, gaps, (zs, ys))


__all__ = ["LOWER_REFERENCE", "extend_column"]
