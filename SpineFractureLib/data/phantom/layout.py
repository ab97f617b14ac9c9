"""Where the phantom's bones sit: the lordotic column in anatomical coordinates, and the
patient's pose in the scanner.

Anatomical coordinates (mm) are LPS-like with the origin at the centre of T2's body: x to the
patient's left, y posterior, z superior. A bone's local frame (u, v, w) is its body centre with
its own axes, tilted along the lordotic curve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .anatomy import REFERENCE, LevelShape

Array = np.ndarray


@dataclass
class Frame:
    """A rigid local frame: anatomical = rotation @ local + centre."""

    rotation: Array  # 3×3, columns = local u, v, w axes in anatomical coordinates
    centre: Array  # (3,) anatomical mm

    def to_anatomical(self, local: Array) -> Array:
        """Map local points (..., 3) to anatomical mm."""
        return np.asarray(local) @ self.rotation.T + self.centre


@dataclass
class Column:
    """The laid-out spine of one patient."""

    shapes: dict[str, LevelShape]  # C1..C7, T1, T2
    frames: dict[str, Frame]
    disc_gaps: dict[str, float]  # disc height above each of C2..T2 (mm)
    body_line: tuple[Array, Array]  # (z, y) samples of the body-centre curve, z increasing

    def body_y(self, z: Array) -> Array:
        """y (mm) of the body-centre line at height z (anatomical mm); flat beyond its ends."""
        zs, ys = self.body_line
        return np.interp(z, zs, ys).astype(np.float32)


def rotation_x(angle: float) -> Array:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> Array:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> Array:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def lay_out_column(rng: np.random.Generator, size: float,
                   reshape: Callable[[LevelShape], LevelShape] | None = None) -> Column:
    """Scale the reference vertebrae for one patient and stack them along a lordotic curve.

    Args:
        rng: the phantom's random generator.
        size: patient scale factor (about 0.9–1.1).
        reshape: applied to each scaled shape before stacking (e.g. the body sizes of real-shape
            templates); it draws nothing from ``rng``.
    """
    shapes = {s.name: s.scaled(size * rng.uniform(0.97, 1.03)) for s in REFERENCE}
    if reshape is not None:
        shapes = {name: reshape(s) for name, s in shapes.items()}
    names = [s.name for s in REFERENCE]  # head to feet
    gaps = {name: float(rng.uniform(4.0, 6.0) * size) for name in names[2:]}  # disc above C3..T2 ...
    gaps["C2"] = 0.0  # C1-C2 is a joint between lateral masses, placed separately

    # Body centres from T2 (z = 0) upwards, heights + discs
    z = {"T2": 0.0}
    below = "T2"
    for name in reversed(names[1:-1]):  # T1, C7, ..., C2
        z[name] = z[below] + shapes[below].height / 2 + gaps[below] + shapes[name].height / 2
        below = name
    # Lordosis: the mid-cervical bodies lie anterior (-y) of the C2-T1 chord; the amplitude
    # varies from slightly kyphotic to strongly lordotic.
    amplitude = rng.uniform(-2.0, 12.0) * size
    z_lo, z_hi = z["T1"], z["C2"]

    def curve(zz: Array) -> Array:
        t = np.clip((np.asarray(zz) - z_lo) / (z_hi - z_lo), 0.0, 1.0)
        return -amplitude * np.sin(np.pi * t)

    frames = {}
    for name in names[1:]:
        dz = 1.0
        slope = (curve(z[name] + dz) - curve(z[name] - dz)) / (2 * dz)  # dy/dz
        tilt = np.arctan(slope)  # rotate w towards the curve's tangent
        jitter = rng.normal(0.0, np.radians(2.0), 3)
        rot = rotation_x(-tilt + jitter[0]) @ rotation_y(jitter[1]) @ rotation_z(jitter[2])
        frames[name] = Frame(rot, np.array([0.0, float(curve(z[name])), z[name]]))
    # C1 rides on C2's superior facets, its ring around the dens, nodding a little
    c2, h2 = frames["C2"], shapes["C2"].height
    c1_local = np.array([0.0, -1.0, h2 / 2 + 9.5 * size])
    nod = rotation_x(np.radians(rng.uniform(-5.0, 10.0)))
    frames["C1"] = Frame(c2.rotation @ nod, c2.to_anatomical(c1_local))

    zs = np.array([frames[n].centre[2] for n in reversed(names)])
    ys = np.array([frames[n].centre[1] for n in reversed(names)])
    return Column(shapes, frames, gaps, (zs, ys))


def sample_pose(rng: np.random.Generator, enabled: bool) -> Array:
    """A random head/neck rotation in the scanner (3×3): yaw and pitch ±10°, roll ±8°."""
    if not enabled:
        return np.eye(3)
    yaw, pitch, roll = np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-8, 8))
    return rotation_z(yaw) @ rotation_x(pitch) @ rotation_y(roll)
