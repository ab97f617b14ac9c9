"""The list of bones and soft fills to draw for one phantom, each with its frame and box."""

from __future__ import annotations

import numpy as np

from ...constants import LEVELS
from . import anatomy, fractures, mesh_anatomy
from .fractures import Fracture, Rendered
from .layout import Column, Frame, rotation_z
from .render import BoneObject

Array = np.ndarray


def plain_shape(sdf_values: Array) -> Rendered:
    """A Rendered for an unbroken, unlabelled bone or a fill."""
    none = np.zeros(sdf_values.shape, dtype=bool)
    return Rendered(sdf_values, sdf_values, sdf_values <= 0, none, none)


def bone_object(name: str, label: int, frame: Frame, lo, hi, evaluate, fill_hu=None,
                joint_gap_mm: float = 0.0) -> BoneObject:
    """A :class:`BoneObject` in ``frame`` with its local bounding box ``lo``..``hi`` (mm)."""
    return BoneObject(name, label, frame.rotation, frame.centre, np.asarray(lo, float),
                      np.asarray(hi, float), evaluate, fill_hu, joint_gap_mm)


def build_objects(col: Column, breaks: dict[str, Fracture], disc_hu: float,
                  anatomy_kind: str = "procedural") -> list[BoneObject]:
    """Everything to draw, in drawing order: fills first (brain, discs), then bones.

    Args:
        col: the laid-out column.
        breaks: fractures by level name.
        disc_hu: HU of the intervertebral discs.
        anatomy_kind: ``procedural`` vertebrae, or ``mesh``: C1–C7 from the real-shape templates
            (:mod:`~SpineFractureLib.data.phantom.mesh_anatomy`; T1 and below stay procedural).
    """
    objects: list[BoneObject] = []
    c1 = col.frames["C1"]
    skull_t = 6.0
    objects.append(bone_object("brain", 0, c1, (-72, -82, 8), (72, 98, 150),
                        lambda u, v, w: plain_shape(anatomy.occiput(u, v, w, skull_t)[1]), fill_hu=35.0))
    for name, s in col.shapes.items():
        if name in ("C1", "C2"):
            continue
        gap = col.disc_gaps[name]
        top, _ = fractures.endplates(s, breaks.get(name))
        if anatomy_kind == "mesh" and name in LEVELS + ("T1",):
            # Fill the real-shape endplates' concavities: the disc starts lower and reaches higher
            # (a fill is drawn only where no bone is).
            dip = mesh_anatomy.ENDPLATE_CONCAVITY_MM
            gap, top = gap + dip, (lambda v, top=top, dip=dip: top(v) - dip)
        objects.append(bone_object(f"disc above {name}", 0, col.frames[name],
                            (-s.width / 2, -s.depth / 2, -s.height), (s.width / 2, s.depth / 2, s.height / 2 + gap + 1),
                            lambda u, v, w, s=s, gap=gap, top=top: plain_shape(anatomy.disc(u, v, w, s, gap, top)),
                            fill_hu=disc_hu))
    for name, s in col.shapes.items():
        f = breaks.get(name)
        margin = 4.0 + (float(np.abs(f.displacement).max()) if f is not None else 0.0)
        if anatomy_kind == "mesh" and name in LEVELS:
            lo, hi = mesh_anatomy.mesh_bounds(s)
            hi = np.maximum(hi, [0.0, 0.0, s.height / 2 + 13.0]) if s.kind == "axis" else hi  # the dens
            objects.append(bone_object(name, s.label, col.frames[name], lo - margin, hi + margin,
                                       lambda u, v, w, s=s, f=f: fractures.render_vertebra(
                                           u, v, w, s, f, mesh_anatomy.mesh_vertebra_shape),
                                       joint_gap_mm=mesh_anatomy.JOINT_GAP_MM))
            continue
        if s.kind == "atlas":
            lo, hi = np.array([-42.0, -15.0, -11.0]), np.array([42.0, 40.0, 11.0])
        else:
            drop = s.spinous_length * np.tan(np.radians(anatomy.SPINOUS_DROP_DEG[s.kind]))
            reach = s.canal_half_width + (24.0 if s.kind in anatomy.TRUNK_KINDS else 16.0)
            lo = np.array([-reach, -s.depth / 2 - 2.0, -s.height / 2 - drop - 6.0])
            hi = np.array([reach, s.depth / 2 + s.canal_depth + s.spinous_length + 9.0,
                           s.height / 2 + (19.0 if s.kind == "axis" else 3.0)])
        # T1 meets the real-shape C7: it keeps the same joint space (the procedural levels leave
        # their own gaps, and their bytes stay those the shipped models were trained on).
        joint = mesh_anatomy.JOINT_GAP_MM if anatomy_kind == "mesh" and name == "T1" else 0.0
        objects.append(bone_object(name, s.label, col.frames[name], lo - margin, hi + margin,
                            lambda u, v, w, s=s, f=f: fractures.render_vertebra(u, v, w, s, f), joint_gap_mm=joint))
    objects.append(bone_object("occiput", 0, c1, (-72, -82, 5), (72, 98, 150),
                        lambda u, v, w: plain_shape(anatomy.occiput(u, v, w, skull_t)[0])))
    t1 = col.shapes["T1"]
    for side in (-1.0, 1.0):
        lo_u, hi_u = (t1.width / 2 - 2, t1.width / 2 + 76) if side > 0 else (-t1.width / 2 - 76, -t1.width / 2 + 2)
        objects.append(bone_object(f"first rib {side:+.0f}", 0, col.frames["T1"],
                            (lo_u, t1.depth / 2 - 38, -32), (hi_u, t1.depth / 2 + 8, 8),
                            lambda u, v, w, side=side: plain_shape(anatomy.first_rib(u, v, w, t1, side))))
    objects += _face_bones(col)
    return objects


def _face_bones(col: Column) -> list[BoneObject]:
    """Mandible and hyoid: bones in front of the spine that must not be taken for vertebrae."""
    from . import sdf

    c2, c3 = col.frames["C2"].centre, col.frames["C3"].centre
    mandible = Frame(rotation_z(0.0), np.array([0.0, c2[1] - 28.0, c2[2] - 4.0]))
    hyoid = Frame(rotation_z(0.0), np.array([0.0, c3[1] - 30.0, c3[2] - 3.0]))
    return [
        bone_object("mandible", 0, mandible, (-50, -50, -14), (50, 12, 14),
             lambda u, v, w: plain_shape(sdf.torus_arc(u, v, w, 0.0, 0.0, 44.0, 5.0, 1.1 * np.pi, 1.9 * np.pi,
                                                  half_height=12.0))),
        bone_object("hyoid", 0, hyoid, (-20, -20, -4), (20, 6, 4),
             lambda u, v, w: plain_shape(sdf.torus_arc(u, v, w, 0.0, 0.0, 16.0, 1.8, 1.15 * np.pi, 1.85 * np.pi))),
    ]
