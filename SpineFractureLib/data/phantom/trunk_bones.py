"""Bones and vessels of the trunk: ribs 2–12, sternum, clavicles, the aorta, and the neck's
contrast-filled arteries (carotids; vertebral arteries through the transverse foramina).

Each rib and vessel is a chain of capsules, one drawing object per segment, so that every
object's bounding box stays small (the whole chest draws in seconds). Rib shapes follow the
usual anatomy: from the costovertebral joint back to the angle, round the chest wall and down
towards the sternum; ribs 8–10 end at the costal margin, 11–12 float.
"""

from __future__ import annotations

import numpy as np

from .builders import plain_shape
from .layout import Column
from .render import BoneObject
from . import sdf
from .tissues import SoftTissue
from .trunk_tissue import Trunk, outline

Array = np.ndarray
_EYE, _ZERO = np.eye(3), np.zeros(3)


def _segment(name: str, p0: Array, p1: Array, radius: float, w_scale: float = 1.0,
             fill_hu: float | None = None) -> BoneObject:
    """One capsule in anatomical coordinates, with its tight bounding box."""
    reach = radius / min(w_scale, 1.0) + 1.0
    lo, hi = np.minimum(p0, p1) - reach, np.maximum(p0, p1) + reach
    return BoneObject(name, 0, _EYE, _ZERO, lo, hi,
                      lambda u, v, w: plain_shape(sdf.capsule(u, v, w, tuple(p0), tuple(p1), radius, w_scale)), fill_hu)


def chain(name: str, points: Array, radius: float, w_scale: float = 1.0, fill_hu: float | None = None) -> list[BoneObject]:
    """Capsules joining consecutive points (N, 3) anatomical mm."""
    pts = np.asarray(points, float)
    return [_segment(f"{name} {i}", pts[i], pts[i + 1], radius, w_scale, fill_hu) for i in range(len(pts) - 1)]


def rib_path(col: Column, tissue: SoftTissue, trunk: Trunk, level: str, side: float) -> Array:
    """Centre line (N, 3) of the rib of a thoracic level (T2..T12) on one side (+1 left)."""
    n = int(level[1:])
    f, s = col.frames[level], col.shapes[level]
    c = f.centre
    hw, hd, cy = (float(np.ravel(a)[0]) for a in outline(col, tissue, trunk, np.array([c[2]])))
    wall = tissue.fat_thickness + 10.0
    a = (hw - wall) * (0.62 + 0.38 * min(1.0, (n - 1) / 5.0))  # upper ribs: the narrow top of the cage
    y_back = c[1] + s.depth / 2 + 26.0
    y_front = cy - (hd - wall)
    yc, b = (y_back + y_front) / 2, (y_back - y_front) / 2
    start = np.arcsin(min(0.95, (s.canal_half_width + 30.0) / a))
    end = {11: 0.55 * np.pi, 12: 0.45 * np.pi}.get(n, np.pi - np.arcsin(min(0.9, (25.0 if n <= 7 else 70.0) / a)))
    theta = np.linspace(start, end, 12)
    drop = 25.0 + 30.0 * np.sin(np.pi * min(1.0, (n - 1) / 10.0))  # mid ribs descend the most
    arc = np.stack([side * a * np.sin(theta), yc + b * np.cos(theta),
                    c[2] - 2.0 - drop * ((theta - start) / (end - start)) ** 1.3], axis=1)
    joint = np.array([[side * (s.width / 2 + 2.0), c[1] + s.depth / 2 + 3.0, c[2] + 2.0],
                      [side * (s.canal_half_width + 18.0), c[1] + s.depth / 2 + 16.0, c[2]]])
    return np.concatenate([joint, arc])


def trunk_bones(col: Column, tissue: SoftTissue, trunk: Trunk) -> list[BoneObject]:
    """Ribs 2–12 (the first rib is drawn with T1), costal cartilages, sternum and clavicles."""
    objects: list[BoneObject] = []
    sternum_top, sternum_bottom = None, None
    for n in range(2, 13):
        level = f"T{n}"
        for side in (-1.0, 1.0):
            path = rib_path(col, tissue, trunk, level, side)
            objects += chain(f"rib {n}{'L' if side > 0 else 'R'}", path, 3.0, w_scale=0.65)
            if n <= 10:  # costal cartilage to the sternum (or, 8-10, towards the costal margin)
                end = path[-1]
                target = np.array([side * (12.0 if n <= 7 else 45.0), end[1] - 4.0, end[2] - (6.0 if n <= 7 else 25.0)])
                objects += chain(f"cartilage {n}{'L' if side > 0 else 'R'}", [end, target], 3.5, fill_hu=120.0)
        end = rib_path(col, tissue, trunk, level, 1.0)[-1]
        if n == 2:
            sternum_top = np.array([0.0, end[1] - 4.0, end[2] + 8.0])
        if n == 7:
            sternum_bottom = np.array([0.0, end[1] - 8.0, end[2] - 10.0])
    objects += chain("sternum", [sternum_top, sternum_bottom], 5.0, w_scale=1.0)
    objects += chain("sternum wing", [sternum_top + [0, 0, -15.0], sternum_bottom + [0, 0, 15.0]], 4.0)
    t1 = col.frames["T1"].centre
    hw = float(np.ravel(outline(col, tissue, trunk, np.array([t1[2] - 35.0]))[0])[0])
    for side in (-1.0, 1.0):
        medial = sternum_top + [side * 14.0, -2.0, 4.0]
        lateral = [side * 0.45 * hw, sternum_top[1] - 8.0, t1[2] + 6.0]
        acromial = [side * 0.78 * hw, t1[1] - 10.0, t1[2] + 12.0]
        objects += chain(f"clavicle {'L' if side > 0 else 'R'}", [medial, lateral, acromial], 6.0)
    return objects


def aorta(col: Column, trunk: Trunk, tissue: SoftTissue) -> list[BoneObject]:
    """Ascending aorta, arch and descending aorta down past L3, filled with blood (phase HU)."""
    f = col.frames
    zs = {n: f[n].centre[2] for n in ("T3", "T4", "T5", "T8", "L3")}
    ys = {n: f[n].centre[1] for n in ("T4", "T5", "T8", "L3")}
    _, hd, cy = (float(np.ravel(a)[0]) for a in outline(col, tissue, trunk, np.array([zs["T8"]])))
    front = cy - 0.15 * hd
    path = [[5.0, front, zs["T8"] + 10.0], [3.0, front, zs["T4"]], [10.0, (front + ys["T4"]) / 2 - 10.0, zs["T3"] - 2.0],
            [20.0, ys["T4"] - 20.0, zs["T4"] - 6.0], [22.0, ys["T5"] - 22.0, zs["T5"]],
            [20.0, ys["T8"] - 24.0, zs["T8"]], [12.0, ys["L3"] - 28.0, zs["L3"] - 30.0]]
    blood = trunk.organ_hu["blood"]
    return chain("aorta", path[:3], 14.0, fill_hu=blood) + chain("aorta", path[2:], 11.5, fill_hu=blood)


def neck_arteries(col: Column, tissue: SoftTissue, blood_hu: float) -> list[BoneObject]:
    """Carotids beside the airway and vertebral arteries through the C6..C1 transverse foramina."""
    objects: list[BoneObject] = []
    f, s = col.frames, col.shapes
    for side in (-1.0, 1.0):
        pts = [f["T1"].to_anatomical([side * (s["T1"].canal_half_width + 18.0), -12.0, -6.0])]
        for lv in ("C6", "C5", "C4", "C3", "C2"):
            pts.append(f[lv].to_anatomical([side * (s[lv].canal_half_width + 3.5), s[lv].depth / 2 - 2.0, 0.0]))
        pts.append(f["C1"].to_anatomical([side * 26.5, 6.5, 0.0]))
        objects += chain(f"vertebral artery {'L' if side > 0 else 'R'}", pts, 2.0, fill_hu=blood_hu)
        carotid = []
        for lv in ("T1", "C6", "C4", "C2"):
            z = f[lv].centre[2]
            y_air = float(col.body_y(np.array([z]))[0]) - 20.0 - tissue.airway_radius
            carotid.append([side * (1.2 * tissue.airway_radius + 20.0), y_air + 4.0, z])
        carotid.append(f["C1"].to_anatomical([side * 30.0, -8.0, 10.0]))
        objects += chain(f"carotid {'L' if side > 0 else 'R'}", carotid, 3.5, fill_hu=blood_hu)
    return objects


__all__ = ["aorta", "chain", "neck_arteries", "rib_path", "trunk_bones"]
