"""Shapes of the phantom's cervical vertebrae, their neighbours (occiput, T1, T2, first ribs)
and where they sit along a lordotic column.

Dimensions (mm) follow published cervical morphometry (e.g. Panjabi et al., Spine 1991;
Tominaga et al. 1995): C3–C7 bodies 13–15 mm high, 15–18 mm deep and 16–22 mm wide, growing
caudally; spinal canal about 24 mm wide and 15 mm deep; discs 4–6 mm; C7's spinous process
the longest. Every shape is a signed distance (mm, negative inside) in the bone's local frame:
u to the patient's left, v posterior, w superior, origin at the body centre (for C1, on the dens
axis at mid-height of the ring).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ... import grading
from . import sdf

Array = np.ndarray
#: Endplate height (w, mm) as a function of v (mm): lets a fracture lower or bow an endplate.
Endplate = Callable[[Array], Array]


@dataclass(frozen=True)
class LevelShape:
    """Size parameters of one vertebra (mm)."""

    name: str
    label: int
    kind: str  # "atlas", "axis", "cervical" or "thoracic"
    width: float  # body width W (u)
    depth: float  # body depth D (v)
    height: float  # body height H (w)
    canal_half_width: float
    canal_depth: float
    spinous_length: float
    bifid: bool
    foramen_radius: float  # foramen transversarium; 0 = none

    def scaled(self, f: float) -> LevelShape:
        """The same vertebra scaled by ``f`` (patient size)."""
        keep = {"name", "label", "kind", "bifid"}
        return LevelShape(**{k: (v if k in keep else v * f) for k, v in self.__dict__.items()})


#: Population-mean shapes; the generator scales and jitters them per patient.
REFERENCE: tuple[LevelShape, ...] = (
    LevelShape("C1", 1, "atlas", 0.0, 0.0, 10.0, 12.5, 30.0, 0.0, False, 3.0),
    LevelShape("C2", 2, "axis", 16.0, 15.0, 15.0, 12.0, 15.0, 16.0, True, 2.7),
    LevelShape("C3", 3, "cervical", 16.0, 15.0, 13.0, 12.0, 14.5, 13.0, True, 2.7),
    LevelShape("C4", 4, "cervical", 17.0, 15.5, 13.3, 12.2, 14.5, 14.0, True, 2.7),
    LevelShape("C5", 5, "cervical", 18.0, 16.0, 13.6, 12.4, 14.5, 15.0, True, 2.7),
    LevelShape("C6", 6, "cervical", 20.0, 17.0, 14.0, 12.4, 14.5, 18.0, True, 2.6),
    LevelShape("C7", 7, "cervical", 22.0, 18.0, 14.5, 12.0, 14.5, 27.0, False, 1.5),
    LevelShape("T1", 8, "thoracic", 25.0, 17.0, 16.0, 9.5, 14.0, 30.0, False, 0.0),
    LevelShape("T2", 9, "thoracic", 26.0, 18.0, 17.0, 8.5, 14.0, 30.0, False, 0.0),
)

#: Kinds drawn with thoracic posterior elements (no foramen transversarium, long transverse
#: processes); lumbar bones are thoracic-like here, only larger with a level spinous process.
TRUNK_KINDS = ("thoracic", "lumbar")
#: Downward slope (degrees below horizontal) of the spinous process by kind.
SPINOUS_DROP_DEG = {"axis": 25.0, "cervical": 25.0, "thoracic": 40.0, "lumbar": 10.0}

#: v positions of the anterior, middle and posterior height points (one definition, shared with
#: the measurements).
HEIGHT_POINTS = grading.HEIGHT_POINTS


def flat(value: float) -> Endplate:
    """A flat endplate at w = value."""
    return lambda v: np.full(np.shape(v), value, dtype=np.float32)


def vertebra(u: Array, v: Array, w: Array, s: LevelShape,
             top: Endplate | None = None, bottom: Endplate | None = None) -> Array:
    """Signed distance (mm) to a whole vertebra, in its local frame.

    Args:
        u, v, w: local coordinates (mm), any equal shapes.
        s: the vertebra's shape.
        top, bottom: superior and inferior body endplates w(v); flat at ±H/2 by default.
    """
    if s.kind == "atlas":
        return atlas(u, v, w, s)
    top = top or flat(s.height / 2)
    bottom = bottom or flat(-s.height / 2)
    W, D, H = s.width, s.depth, s.height
    cw, cd = s.canal_half_width, s.canal_depth
    body = sdf.ellipse_cylinder(u, v, w, 0.0, 0.0, W / 2, D / 2, bottom(v), top(v))
    parts = [body]
    back = D / 2 + cd + 2.5  # v of the spinous-process base (posterior wall of the canal)
    for side in (-1.0, 1.0):
        if s.kind in TRUNK_KINDS:
            pillar = sdf.ellipse_cylinder(u, v, w, side * (cw + 4.0), D / 2 + 6.0, 4.5, 5.5, -H / 2 + 1, H / 2 + 1)
            pedicle = sdf.capsule(u, v, w, (side * (W / 2 - 3), D / 2 - 2, 1.0),
                                  (side * (cw + 3.0), D / 2 + 6.0, 1.0), 3.0)
            transverse = sdf.capsule(u, v, w, (side * (cw + 4.0), D / 2 + 6.0, 1.0),
                                     (side * (cw + 18.0), D / 2 + 12.0, 2.0), 4.5)
        else:
            pillar = sdf.ellipse_cylinder(u, v, w, side * (cw + 4.5), D / 2 + 7.0, 5.5, 6.5,
                                          -H / 2 - 0.5, H / 2 + 1.0)
            pedicle = sdf.capsule(u, v, w, (side * (W / 2 - 1.5), D / 2 - 2, 0.0),
                                  (side * (cw + 2.5), D / 2 + 5.0, 0.0), 2.6)
            transverse = sdf.capsule(u, v, w, (side * (W / 2 - 1.0), D / 2 - 3.0, 0.0),
                                     (side * (cw + 11.0), D / 2 - 1.0, -1.0), 3.0, w_scale=1.3)
            if s.foramen_radius > 0:
                hole = sdf.ellipse_cylinder(u, v, w, side * (cw + 3.5), D / 2 - 2.0,
                                            s.foramen_radius, s.foramen_radius, -8.0, 8.0)
                transverse = sdf.subtract(transverse, hole)
        lamina = sdf.capsule(u, v, w, (side * (cw + 2.5), D / 2 + 10.5, -1.0), (0.0, back, -1.5), 2.3,
                             w_scale=0.5 if s.kind in TRUNK_KINDS else 0.45)
        parts += [pillar, pedicle, transverse, lamina]
    parts += _spinous(u, v, w, s, back)
    if s.kind == "axis":
        dens = sdf.capsule(u, v, w, (0.0, -1.0, H / 2 - 3.0), (0.0, -1.5, H / 2 + 12.0), 4.8)
        facets = [sdf.ellipse_cylinder(u, v, w, side * 12.0, 1.5, 7.0, 8.0, H / 2 - 6.0, H / 2 + 1.0)
                  for side in (-1.0, 1.0)]
        parts += [dens, *facets]
    return sdf.union(*parts)


def _spinous(u: Array, v: Array, w: Array, s: LevelShape, back: float) -> list[Array]:
    """The spinous process: pointing posteriorly and down, bifid tips for C2–C6."""
    length, drop = s.spinous_length, np.tan(np.radians(SPINOUS_DROP_DEG[s.kind]))
    base = (0.0, back, -1.5)
    tip_v, tip_w = back + length, -1.5 - length * drop
    radius = 3.5 if s.name in ("C7", "T1", "T2") else 2.8
    if not s.bifid:
        return [sdf.capsule(u, v, w, base, (0.0, tip_v, tip_w), radius, w_scale=0.7),
                sdf.ellipsoid(u, v, w, (0.0, tip_v, tip_w), (4.5, 4.0, 5.0))]
    mid = (0.0, back + 0.6 * length, -1.5 - 0.6 * length * drop)
    return [sdf.capsule(u, v, w, base, mid, radius, w_scale=0.7)] + [
        sdf.capsule(u, v, w, mid, (side * 3.5, tip_v, tip_w), 2.4) for side in (-1.0, 1.0)
    ]


def atlas(u: Array, v: Array, w: Array, s: LevelShape) -> Array:
    """C1: a ring with anterior and posterior arches, two lateral masses, transverse processes
    with foramina, no body. Origin on the dens axis; the anterior arch lies 1.5 mm in front of
    the dens."""
    ring = sdf.elliptic_ring(u, v, w, cv=12.0, a=20.5, b=22.0, tube=3.0, half_height=4.5)
    tubercle = sdf.ellipsoid(u, v, w, (0.0, 34.5, 0.0), (5.0, 3.0, 5.5))
    parts = [ring, tubercle]
    for side in (-1.0, 1.0):
        mass = sdf.ellipse_cylinder(u, v, w, side * 16.5, 4.5, 7.0, 9.5, -6.5, 6.0)
        tp = sdf.capsule(u, v, w, (side * 20.0, 5.0, 0.0), (side * 36.0, 8.0, -1.0), 4.0, w_scale=1.2)
        hole = sdf.ellipse_cylinder(u, v, w, side * 26.5, 6.5, s.foramen_radius, s.foramen_radius, -9, 9)
        parts += [mass, sdf.subtract(tp, hole)]
    return sdf.union(*parts)


def disc(u: Array, v: Array, w: Array, s: LevelShape, gap: float,
         top: Endplate | None = None) -> Array:
    """The intervertebral disc above a body, in that body's frame: from its superior endplate
    ``top`` (which may be depressed by a fracture) up by ``gap`` mm."""
    top = top or flat(s.height / 2)
    return sdf.ellipse_cylinder(u, v, w, 0.0, 0.0, s.width / 2 - 0.6, s.depth / 2 - 0.6,
                                top(v), s.height / 2 + gap + 0.3)


def occiput(u: Array, v: Array, w: Array, thickness: float) -> tuple[Array, Array]:
    """Skull base and occipital bone above C1, in C1's frame, with the foramen magnum and the
    occipital condyles. Returns (bone, braincase interior) signed distances."""
    centre, axes = (0.0, 8.0, 78.0), (70.0, 88.0, 68.0)
    outer = sdf.ellipsoid(u, v, w, centre, axes)
    inner = sdf.ellipsoid(u, v, w, centre, tuple(a - thickness for a in axes))
    foramen = sdf.ellipse_cylinder(u, v, w, 0.0, 13.0, 15.0, 18.0, 0.0, 40.0)
    shell = sdf.subtract(sdf.subtract(outer, inner), foramen)
    condyles = [sdf.ellipsoid(u, v, w, (side * 14.0, 5.0, 12.5), (5.5, 9.0, 4.5)) for side in (-1.0, 1.0)]
    return sdf.union(shell, *condyles), inner


def first_rib(u: Array, v: Array, w: Array, s: LevelShape, side: float) -> Array:
    """The first rib of one side (+1 left, -1 right), in T1's frame: from its head at the side
    of the body it curves laterally and forward, descending as it goes."""
    # Built for the left side and mirrored: on the left the head is the arc's medial end
    # (atan2 angle pi about the arc's centre) and the rib turns anteriorly (towards 1.5 pi).
    return sdf.torus_arc(side * u, v, w, s.width / 2 + 36.0, s.depth / 2 + 2.0, 34.0, 4.0,
                         np.pi, 1.5 * np.pi, half_height=5.5, w_slope=0.35)
