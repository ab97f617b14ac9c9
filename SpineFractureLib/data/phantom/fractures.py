"""Fractures of the phantom's vertebrae: which levels break (clustered, as in RSNA 2022), how,
and the signed-distance algebra that cuts, displaces or compresses a vertebra.

Nothing but the fracture itself changes a fractured vertebra: its size, HU and position are
drawn before (and independently of) the fracture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import anatomy
from .anatomy import Endplate, LevelShape

Array = np.ndarray

#: Relative frequency of fractured levels in RSNA 2022 (C2 and C6–C7 most often).
LEVEL_WEIGHTS = {"C1": 0.07, "C2": 0.20, "C3": 0.05, "C4": 0.07, "C5": 0.12, "C6": 0.20, "C7": 0.29}
#: Probability that a fracture extends to each next adjacent level.
SPREAD = 0.35
KINDS = {"C1": ("arch",), "C2": ("dens", "compression", "break", "fragment")}
DEFAULT_KINDS = ("compression", "break", "fragment")
#: Genant grade -> range of the largest relative height loss.
GRADE_LOSS = {1: (0.20, 0.25), 2: (0.25, 0.40), 3: (0.40, 0.55)}


@dataclass
class Fracture:
    """One vertebra's fracture, in its local frame (mm).

    Attributes:
        kind: "compression", "break" (a crack), "fragment" (a displaced corner), "dens", "arch".
        profile: for compression, "wedge", "biconcave" or "crush".
        height_loss: for compression, the largest relative loss of body height.
        point, normal: a point on the fracture plane and its unit normal.
        gap: width of the fracture gap (mm).
        radius: the crack's radius around ``point`` (inf: it crosses the whole bone).
        displacement: shift of the fragment on the normal's side (mm, local frame).
    """

    kind: str
    profile: str = ""
    height_loss: float = 0.0
    point: Array = field(default_factory=lambda: np.zeros(3))
    normal: Array = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    gap: float = 1.0
    radius: float = np.inf
    displacement: Array = field(default_factory=lambda: np.zeros(3))

    @property
    def label(self) -> str:
        """The kind as the truth names it: ``"compression:wedge"``, ``"dens"``, ..."""
        return f"{self.kind}:{self.profile}" if self.profile else self.kind


def sample_fractured_levels(rng: np.random.Generator, present: list[str], rate: float) -> list[str]:
    """Levels that break: with probability ``rate`` the patient has a fracture at a level drawn
    by RSNA frequency, spreading to adjacent levels with probability :data:`SPREAD` each."""
    if not present or rng.random() >= rate:
        return []
    weights = np.array([LEVEL_WEIGHTS[lv] for lv in present])
    seed_index = int(rng.choice(len(present), p=weights / weights.sum()))
    chosen = {seed_index}
    for step in (-1, 1):
        i = seed_index + step
        while 0 <= i < len(present) and rng.random() < SPREAD:
            chosen.add(i)
            i += step
    return [present[i] for i in sorted(chosen)]


def sample_fracture(rng: np.random.Generator, s: LevelShape, difficulty: float) -> Fracture:
    """Draw one fracture for vertebra ``s``; ``difficulty`` 0 is obvious, 1 subtle."""
    kind = str(rng.choice(KINDS.get(s.name, DEFAULT_KINDS)))
    gap = float(np.clip((2.0 - 1.5 * difficulty) * rng.uniform(0.85, 1.15), 0.5, 2.0))
    shift = (3.0 * (1.0 - difficulty)) * rng.uniform(0.4, 1.0)
    W, D, H = s.width, s.depth, s.height
    if kind == "compression":
        grade = int(np.clip(round(3 - 2 * difficulty + rng.normal(0, 0.4)), 1, 3))
        lo, hi = GRADE_LOSS[grade]
        return Fracture(kind, profile=str(rng.choice(["wedge", "biconcave", "crush"])),
                        height_loss=float(rng.uniform(lo + 0.01, hi - 0.01)))
    if kind == "break":
        normal = _unit(rng.normal(size=3))
        if rng.random() < 0.7:  # through the body
            point = rng.uniform(-0.4, 0.4, 3) * np.array([W / 2, D / 2, H / 2])
            radius = float(rng.uniform(9.0, 16.0))
        else:  # through a pedicle or lamina
            side = rng.choice([-1.0, 1.0])
            point = np.array([side * (s.canal_half_width + 2.0), D / 2 + rng.uniform(4.0, 9.0), 0.0])
            radius = 6.0
        return Fracture(kind, point=point, normal=normal, gap=gap, radius=radius)
    if kind == "fragment":  # teardrop: an anterior corner of the body breaks off and moves
        up = rng.choice([-1.0, 1.0])
        point = np.array([rng.uniform(-2, 2), -D / 2 + rng.uniform(3.5, 5.0), up * (H / 2 - rng.uniform(3.5, 5.0))])
        normal = _unit(np.array([0.0, -1.0, up]) + rng.normal(0, 0.15, 3))
        direction = _unit(normal + rng.normal(0, 0.5, 3))
        return Fracture(kind, point=point, normal=normal, gap=gap, displacement=shift * direction)
    if kind == "dens":  # through the base of the dens (Anderson-D'Alonzo type II)
        tilt = np.radians(rng.uniform(-15, 15))
        point = np.array([0.0, -1.2, H / 2 + rng.uniform(2.0, 5.0)])
        normal = np.array([0.0, np.sin(tilt), np.cos(tilt)])
        direction = _unit(np.array([0.0, rng.choice([-1.0, 1.0]), 0.0]) + rng.normal(0, 0.2, 3))
        return Fracture(kind, point=point, normal=normal, gap=gap, radius=7.0,
                        displacement=shift * direction)
    # C1 arch (Jefferson-type break of the anterior or posterior arch), not displaced
    angle = rng.uniform(0.25, 0.6) * np.pi * rng.choice([-1.0, 1.0])
    front = rng.random() < 0.5
    centre = np.array([20.5 * np.sin(angle), 12.0 + 22.0 * (-1 if front else 1) * np.cos(angle), 0.0])
    tangent = _unit(np.array([20.5 * np.cos(angle), 22.0 * (1 if front else -1) * np.sin(angle), 0.0]))
    return Fracture("arch", point=centre, normal=tangent, gap=gap, radius=8.0)


def endplates(s: LevelShape, f: Fracture | None) -> tuple[Endplate, Endplate]:
    """Superior and inferior endplates w(v) of the body, lowered/raised by a compression."""
    H, D = s.height, s.depth
    if f is None or f.kind != "compression":
        return anatomy.flat(H / 2), anatomy.flat(-H / 2)
    loss = f.height_loss * H
    v_ant = anatomy.HEIGHT_POINTS["anterior"] * D / 2
    v_post = anatomy.HEIGHT_POINTS["posterior"] * D / 2
    if f.profile == "wedge":  # anterior height lost, posterior kept
        def top(v: Array) -> Array:
            return H / 2 - loss * np.clip((v_post - v) / (v_post - v_ant), 0.0, 1.1)
        return top, anatomy.flat(-H / 2)
    if f.profile == "crush":  # the whole endplate down, more anteriorly
        def top(v: Array) -> Array:
            return H / 2 - loss * (0.6 + 0.4 * np.clip((v_post - v) / (v_post - v_ant), 0.0, 1.1))
        return top, anatomy.flat(-H / 2)

    def dip(v: Array) -> Array:  # biconcave: both endplates bow in, most at the middle
        return loss / 2 * np.clip(1.0 - (v / (D / 2)) ** 2, 0.0, 1.0)
    return (lambda v: H / 2 - dip(v)), (lambda v: -H / 2 + dip(v))


@dataclass
class Rendered:
    """A vertebra evaluated on local coordinates (all arrays of the coordinates' shape)."""

    bone: Array  # signed distance (mm) of the bone as it is now (cut, displaced)
    shell: Array  # signed distance to the unbroken surface: cortex where -t < shell <= 0
    labelled: Array  # bool: voxels of the vertebra's mask (bone plus its own fracture gap)
    region: Array  # bool: the fracture-region mask
    impaction: Array  # bool: compressed trabecular bone under a depressed endplate


def render_vertebra(u: Array, v: Array, w: Array, s: LevelShape, f: Fracture | None,
                    shape: Callable[..., Array] = anatomy.vertebra) -> Rendered:
    """Evaluate vertebra ``s`` with fracture ``f`` (or none) at local coordinates (mm).

    ``shape(u, v, w, s, top, bottom)`` is the intact bone's signed distance: the procedural
    :func:`~SpineFractureLib.data.phantom.anatomy.vertebra` or a real-shape template.
    """
    top, bottom = endplates(s, f)
    intact = shape(u, v, w, s, top, bottom)
    none = np.zeros(u.shape, dtype=bool)
    if f is None:
        return Rendered(intact, intact, intact <= 0, none, none)
    if f.kind == "compression":
        H = s.height
        depressed = (H / 2 - top(v) > 0.5) & (w > top(v) - 3.0)
        raised = (bottom(v) + H / 2 > 0.5) & (w < bottom(v) + 3.0)
        in_body = (np.abs(u) < s.width / 2) & (np.abs(v) < s.depth / 2) & (intact <= 0)
        region = (depressed | raised) & in_body
        return Rendered(intact, intact, intact <= 0, region, region)

    # A cut: a gap of width f.gap across the plane (within f.radius of the point), and the
    # bone on the normal's side moved by f.displacement.
    side, off_axis = _plane_coordinates(u, v, w, f.point, f.normal)
    in_crack = off_axis - f.radius
    gap_sdf = np.maximum(np.abs(side) - f.gap / 2, in_crack)
    moved_sdf = np.maximum(f.gap / 2 - side, in_crack)  # the part that moves
    staying = np.maximum(intact, np.maximum(-gap_sdf, -moved_sdf))
    if np.any(f.displacement):
        d = f.displacement
        moved_intact = shape(u - d[0], v - d[1], w - d[2], s, top, bottom)
        side_m, off_m = _plane_coordinates(u - d[0], v - d[1], w - d[2], f.point, f.normal)
        fragment = np.maximum(moved_intact, np.maximum(f.gap / 2 - side_m, off_m - f.radius))
    else:
        moved_intact = intact
        fragment = np.maximum(intact, moved_sdf)
    bone = np.minimum(staying, fragment)
    shell = np.where(fragment < staying, moved_intact, intact)
    labelled = (bone <= 0) | ((intact <= 0) & (gap_sdf <= 0))
    near_bone = np.minimum(intact, moved_intact) <= 1.0
    region = near_bone & (np.abs(side) <= f.gap / 2 + 1.5) & (in_crack <= 1.0)
    return Rendered(bone, shell, labelled, region, none)


def _plane_coordinates(u: Array, v: Array, w: Array, point: Array,
                       normal: Array) -> tuple[Array, Array]:
    """Signed distance to the plane, and distance from the plane's axis through ``point``."""
    du, dv, dw = u - point[0], v - point[1], w - point[2]
    side = du * normal[0] + dv * normal[1] + dw * normal[2]
    off_axis = np.sqrt(np.maximum(du * du + dv * dv + dw * dw - side * side, 0.0))
    return side, off_axis


def _unit(x: Array) -> Array:
    return np.asarray(x, float) / max(float(np.linalg.norm(x)), 1e-9)
