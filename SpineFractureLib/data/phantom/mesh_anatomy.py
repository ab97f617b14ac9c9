"""Cervical vertebrae C1–C7 from real anatomical surface meshes, as signed distances.

The meshes are those of the Vasavada / Mortensen head-and-neck model (MIT licence; source,
credits and changes in ``meshes/README.md``). They are coarse (142–310 vertices), so each one is
cleaned, its holes filled, Loop-subdivided twice and smoothed (VTK) before it is voxelised at
0.5 mm; the signed distance then comes from Euclidean distance transforms of the voxel mask
(SciPy). That is one template per level, computed once per process.

Frames: each template is expressed in the phantom's local vertebra frame of
:mod:`~SpineFractureLib.data.phantom.anatomy` (u to the patient's left, v posterior, w superior,
mm), with its origin where the procedural shapes have theirs: the body centre for C2–C7 (the
body measured on the mesh itself, the dens excluded) and, for C1, the dens axis at the ring's
mid-height (1.5 mm gap plus a 4.8 mm dens radius behind the anterior arch). OpenSim's body
frames are +X anterior, +Y superior, +Z right: (u, v, w) = (−Z, −X, Y), a proper rotation.

The neck model's bodies are half as wide again as measured ones, so each C2–C7 body is narrowed
left-right (in front of its posterior wall only) to the reference width-to-depth ratio before
voxelising (:func:`body_width_ratio`); the arch and transverse processes keep their span.
:func:`mesh_vertebra` scales a template (isotropically, keeping its proportions) to the body
depth and height of a :class:`~SpineFractureLib.data.phantom.anatomy.LevelShape`, so the
generator's patient size and jitter apply to real shapes; :func:`mesh_shape` says which body
sizes result. Nothing here is used by the default
generator yet (its bytes, and so every cached case and shipped model, are unchanged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from ...constants import LEVELS
from . import anatomy, mesh_surface, sdf
from .anatomy import REFERENCE, LevelShape

log = logging.getLogger(__name__)
Array = np.ndarray

MESH_DIR = Path(__file__).with_name("meshes")
#: Voxel size (mm) of the templates' signed distance grids.
TEMPLATE_SPACING = 0.5
#: Distance (mm) reported outside a template's grid (anything positive: not bone).
OUTSIDE_MM = 10.0
#: C1's origin behind the posterior surface of its anterior arch: the atlanto-dens gap plus the
#: dens radius of the procedural axis (mm).
C1_ORIGIN_BEHIND_ARCH_MM = 1.5 + 4.8
#: Levels whose mesh spinous process is replaced by the procedural one (see mesh_vertebra_shape).
SLOPED_SPINOUS = ("C5", "C6", "C7")
#: Joint space (mm) each real-shape vertebra keeps from the bone drawn before it (its upper
#: neighbour): facet and uncovertebral joints are 1–2 mm wide on CT; the scaled templates touch
#: or overlap there (see :meth:`~.render.Canvas.joint_space`).
JOINT_GAP_MM = 1.5
#: Depth (mm) of the endplates' concavity at their centre (C2–C7; C2's inferior endplate only).
ENDPLATE_CONCAVITY_MM = 0.6


@dataclass(frozen=True)
class MeshTemplate:
    """One level's voxelised mesh.

    Attributes:
        level: "C1" … "C7".
        sdf: signed distance (mm, negative inside), float32, axis order (w, v, u).
        origin: (u, v, w) of voxel (0, 0, 0) in the local frame (mm).
        body: width, depth, height (mm) of the vertebral body as measured on the mesh (zeros for C1).
        tilt_deg: sagittal tilt of the mesh's endplates in the model's frame, taken out here
            (degrees; positive: rising posteriorly).
        arch: (v, w) of the posterior arch's front on the mid-sagittal line, relative to the
            origin (mm; zeros for C1).
    """

    level: str
    sdf: Array
    origin: Array
    body: tuple[float, float, float]
    tilt_deg: float = 0.0
    arch: tuple[float, float] = (0.0, 0.0)

    @property
    def bounds(self) -> tuple[Array, Array]:
        """Lowest and highest (u, v, w) of the grid (mm)."""
        extent = (np.array(self.sdf.shape[::-1]) - 1) * TEMPLATE_SPACING
        return self.origin.copy(), self.origin + extent

    def volume_ml(self) -> float:
        """Enclosed volume (ml)."""
        return float((self.sdf <= 0).sum()) * TEMPLATE_SPACING ** 3 / 1000.0


def mesh_file(level: str) -> Path:
    """The packaged surface mesh of ``level`` (VTK XML PolyData, metres, OpenSim body frame)."""
    if level not in LEVELS:
        raise ValueError(f"no mesh for level {level!r}: meshes exist for {', '.join(LEVELS)}")
    return MESH_DIR / f"cerv{LEVELS.index(level) + 1}.vtp"


@lru_cache(maxsize=None)
def template(level: str) -> MeshTemplate:
    """The signed-distance template of ``level`` (computed once per process, about 0.1 s)."""
    surface = mesh_surface.smoothed_surface(mesh_file(level))
    mask, lo = mesh_surface.voxelise(surface, TEMPLATE_SPACING)
    tilt = 0.0
    if level == "C1":
        centre, body = _atlas_origin(mask, lo), (0.0, 0.0, 0.0)
    else:
        # The neck model's frames follow its posture, not each bone: level the body's endplates.
        tilt = _endplate_tilt_deg(mask, level)
        surface = mesh_surface.rotated_about_u(surface, _body_centre_and_size(mask, lo)[0], -tilt)
        mask, lo = mesh_surface.voxelise(surface, TEMPLATE_SPACING)
        centre, body = _body_centre_and_size(mask, lo)
        ratio = body_width_ratio(level, body)
        if ratio < 1.0:
            mask, lo = mesh_surface.voxelise(mesh_surface.narrowed_body(surface, centre, body, ratio), TEMPLATE_SPACING)
            centre, body = _body_centre_and_size(mask, lo)
    outside = ndimage.distance_transform_edt(~mask, sampling=TEMPLATE_SPACING)
    inside = ndimage.distance_transform_edt(mask, sampling=TEMPLATE_SPACING)
    # Distances between voxel centres: the surface lies half a voxel from the last voxel inside.
    distance = np.where(mask, -(inside - TEMPLATE_SPACING / 2), outside - TEMPLATE_SPACING / 2).astype(np.float32)
    arch = (0.0, 0.0) if level == "C1" else tuple(float(x) for x in _arch_front(mask, lo) - centre[1:])
    t = MeshTemplate(level, distance, lo - centre, body, tilt, arch)
    log.debug("mesh template %s: %s voxels, %.1f ml, body %s mm", level, distance.shape, t.volume_ml(),
              np.round(body, 1))
    return t


def body_width_ratio(level: str, body: tuple[float, float, float]) -> float:
    """The factor that brings a mesh body's width-to-depth ratio to the reference shape's.

    The neck model's bodies are 1.5–1.75 times as wide as they are deep; measured cervical bodies
    (Panjabi et al., Spine 1991, the source of :data:`~.anatomy.REFERENCE`) are 1.0–1.25 times,
    narrower than the canal behind them. Never above 1: a narrow mesh body is left as it is.
    """
    ref = next(r for r in REFERENCE if r.name == level)
    return float(min(1.0, (ref.width / ref.depth) / (body[0] / body[1])))


def scale_for(s: LevelShape) -> float:
    """The isotropic factor that brings the template of ``s.name`` to the size of ``s``.

    The geometric mean of the body's depth and height ratios (the mesh's body width includes the
    uncinate and lateral parts, so it is not compared). Isotropic, so the real proportions of the
    posterior elements are kept; :func:`mesh_shape` gives the body sizes that result. C1 has no
    body: it is scaled by the patient size (``s`` against the reference C1).
    """
    t = template(s.name)
    if s.kind == "atlas" or not all(t.body):
        ref = next(r for r in REFERENCE if r.name == s.name)
        return float(s.canal_depth / ref.canal_depth)
    return float(np.sqrt(s.depth / t.body[1] * s.height / t.body[2]))


def mesh_shape(s: LevelShape) -> LevelShape:
    """``s`` with the body width, depth and height of the scaled template (what fractures and
    truth must use when the vertebra is drawn from the mesh)."""
    t = template(s.name)
    if not all(t.body):
        return s
    k = scale_for(s)
    return replace(s, width=t.body[0] * k, depth=t.body[1] * k, height=t.body[2] * k)


def mesh_bounds(s: LevelShape) -> tuple[Array, Array]:
    """The local box (u, v, w; mm) holding the scaled template of ``s``."""
    lo, hi = template(s.name).bounds
    k = scale_for(s)
    return lo * k, hi * k


def mesh_vertebra(u: Array, v: Array, w: Array, s: LevelShape) -> Array:
    """Signed distance (mm, negative inside) to level ``s.name``'s real-shape vertebra.

    Args:
        u, v, w: local coordinates (mm; see the module docstring), any equal shapes.
        s: the level's shape; its body depth and height set the scale (:func:`scale_for`).

    Returns:
        float32 array of the coordinates' shape (trilinear in the 0.5 mm template).
    """
    t = template(s.name)
    k = scale_for(s)
    idx = [(np.asarray(c, np.float32) / k - t.origin[a]) / TEMPLATE_SPACING for a, c in ((2, w), (1, v), (0, u))]
    return (ndimage.map_coordinates(t.sdf, idx, order=1, mode="constant", cval=OUTSIDE_MM) * k).astype(np.float32)


def mesh_vertebra_shape(u: Array, v: Array, w: Array, s: LevelShape, top=None, bottom=None) -> Array:
    """The real-shape vertebra as :func:`~SpineFractureLib.data.phantom.anatomy.vertebra` draws
    the procedural one (same arguments), for the fracture renderer.

    C5–C7 keep the mesh up to just behind the junction of the laminae and get the procedural
    spinous process from there (sloping down 25°, bifid where the level is): the model's are
    thick horizontal plates.
    The body is an elliptic cylinder between the endplates (:func:`_cylindrical_body`), cut
    where a fracture moves them, as the procedural body is. C2 gets the procedural dens (a 4.8 mm
    peg rising 12 mm above the body): the neck model's C2 has only a low rounded hump there.
    """
    d = mesh_vertebra(u, v, w, s)
    if s.name in SLOPED_SPINOUS:
        t, k = template(s.name), scale_for(s)
        cut = (t.arch[0] + 5.0) * k  # just behind where the laminae meet
        d = np.maximum(d, (v - cut).astype(np.float32))
        d = sdf.union(d, *anatomy._spinous(u, v, w - (t.arch[1] * k + 1.5), s, cut - 2.0))
    if s.kind != "atlas":
        d = _cylindrical_body(d, u, v, w, s, top, bottom)
    if s.kind == "axis":
        d = sdf.union(d, sdf.capsule(u, v, w, (0.0, -1.0, s.height / 2 - 3.0), (0.0, -1.5, s.height / 2 + 12.0), 4.8))
    return d


def _cylindrical_body(d: Array, u: Array, v: Array, w: Array, s: LevelShape, top, bottom) -> Array:
    """The mesh with its body made an elliptic cylinder of the body's width and depth between
    the endplates ``top`` / ``bottom`` (flat at ±H/2 unless a fracture moved them), each
    concave by ENDPLATE_CONCAVITY_MM at its centre; the mesh's outline is kept where it reaches
    outside the ellipse (posterior corners, uncinate margins).

    The subdivided low-poly bodies are ovals in the sagittal plane, rounder than real bodies;
    and a compression must move a flat endplate, as in the procedural body. C2's top is the base
    of the dens: it is cut only where a fracture moved it, and without a concavity.
    """
    a, b = s.width / 2, s.depth / 2
    ellipse = (u / a) ** 2 + (v / b) ** 2
    dip = ENDPLATE_CONCAVITY_MM * np.clip(1.0 - ellipse, 0.0, 1.0)
    flat_top = top is None or np.abs(top(np.linspace(-b, b, 9)) - s.height / 2).max() <= 1e-6
    top = top or anatomy.flat(s.height / 2)
    bottom = bottom or anatomy.flat(-s.height / 2)
    upper = top(v) - (0.0 if s.kind == "axis" else dip)
    lower = bottom(v) + dip
    cut = lower - w if s.kind == "axis" and flat_top else np.maximum(w - upper, lower - w)
    d = np.where(ellipse <= 1.0, np.maximum(d, cut), d)
    return sdf.union(d, sdf.ellipse_cylinder(u, v, w, 0.0, 0.0, a, b, lower, upper)).astype(np.float32)


def _mid_sagittal(mask: Array) -> tuple[Array, int]:
    """The (w, v) slice through the middle of the bone's left-right extent, and its u index."""
    cols = np.nonzero(mask.any(axis=(0, 1)))[0]
    iu = int(round((cols[0] + cols[-1]) / 2))
    return mask[:, :, max(iu - 2, 0):iu + 3].any(axis=2), iu


def _body_section(mask: Array) -> tuple[Array, Array, Array, int]:
    """The vertebral body in the mid-sagittal slice of a C2–C7 mask: the anterior bone piece's
    (w, v) pixels, those of the body proper, its rows (w indices) and the slice's u index.

    The body is the anterior-most bone in that slice; its rows whose anteroposterior depth is at
    least 60 % of the deepest (the longest such run) are the body proper (C2's dens above is
    narrower).
    """
    sag, iu = _mid_sagittal(mask)
    parts, _ = ndimage.label(sag)
    front = np.argwhere(sag)
    first = front[np.argmin(front[:, 1])]  # smallest v: most anterior bone voxel
    piece = parts == parts[tuple(first)]
    runs, n = ndimage.label(piece.sum(axis=1) >= 0.6 * piece.sum(axis=1).max())
    longest = 1 + int(np.argmax(ndimage.sum(np.ones_like(runs), runs, index=np.arange(1, n + 1))))
    return piece, piece & (runs == longest)[:, None], np.nonzero(runs == longest)[0], iu


def _endplate_tilt_deg(mask: Array, level: str) -> float:
    """Sagittal slope (degrees, positive rising posteriorly) of the body's endplates: straight
    lines fitted to its top and bottom edges over the middle 60 % of its depth, averaged (C2:
    the inferior endplate only; its top is the base of the dens)."""
    body2d = _body_section(mask)[0]
    cols = np.nonzero(body2d.any(axis=0))[0]
    cols = cols[int(0.2 * len(cols)):max(int(0.8 * len(cols)), int(0.2 * len(cols)) + 2)]
    top = [np.nonzero(body2d[:, c])[0].max() for c in cols]
    bottom = [np.nonzero(body2d[:, c])[0].min() for c in cols]
    slopes = [np.polyfit(cols, bottom, 1)[0]] + ([] if level == "C2" else [np.polyfit(cols, top, 1)[0]])
    return float(np.degrees(np.arctan(np.mean(slopes))))


def _body_centre_and_size(mask: Array, lo: Array) -> tuple[Array, tuple[float, float, float]]:
    """Centre (u, v, w; mm) and width, depth, height (mm) of the vertebral body of a C2–C7 mask.

    The width is the bone's left-right run at the body's centre height, a quarter of its depth in
    front of the centre (clear of the pedicles and transverse processes).
    """
    _, body2d, rows, iu = _body_section(mask)
    cw, cv = np.argwhere(body2d).mean(axis=0)
    height = len(rows) * TEMPLATE_SPACING
    depth = float(np.median(body2d[rows].sum(axis=1))) * TEMPLATE_SPACING
    row = mask[int(round(cw)), int(round(cv - depth / 4 / TEMPLATE_SPACING))]
    run, _ = ndimage.label(row)
    width = float((run == run[iu]).sum()) * TEMPLATE_SPACING if run[iu] else 0.0
    return lo + np.array([iu, cv, cw]) * TEMPLATE_SPACING, (width, depth, height)


def _arch_front(mask: Array, lo: Array) -> Array:
    """(v, w; mm) of the front of the posterior arch on the mid-sagittal line: the most
    anterior voxel of the bone piece holding the most posterior voxel, at its front's mid-height."""
    sag, _ = _mid_sagittal(mask)
    parts, _ = ndimage.label(sag)
    pts = np.argwhere(sag)
    piece = np.argwhere(parts == parts[tuple(pts[np.argmax(pts[:, 1])])])
    front = piece[piece[:, 1] <= piece[:, 1].min() + 4]
    return lo[1:] + np.array([piece[:, 1].min(), (front[:, 0].min() + front[:, 0].max()) / 2]) * TEMPLATE_SPACING


def _atlas_origin(mask: Array, lo: Array) -> Array:
    """C1's origin: on the dens axis, C1_ORIGIN_BEHIND_ARCH_MM behind the anterior arch, at the
    arch's mid-height."""
    sag, iu = _mid_sagittal(mask)
    parts, _ = ndimage.label(sag)
    front = np.argwhere(sag)
    arch = np.argwhere(parts == parts[tuple(front[np.argmin(front[:, 1])])])
    behind = arch[:, 1].max() + 1  # first v index behind the anterior arch
    centre = np.array([iu, behind, (arch[:, 0].min() + arch[:, 0].max()) / 2]) * TEMPLATE_SPACING
    return lo + centre + np.array([0.0, C1_ORIGIN_BEHIND_ARCH_MM, 0.0])


__all__ = ["MESH_DIR", "MeshTemplate", "body_width_ratio", "mesh_bounds", "mesh_file", "mesh_shape", "mesh_vertebra", "mesh_vertebra_shape", "scale_for", "template"]
