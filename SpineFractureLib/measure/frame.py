"""Each vertebra's own frame, estimated from the label map: where its mid-sagittal plane lies.

The heights of a vertebral body are read on its mid-sagittal plane, along its own superior axis,
not the scanner's: the cervical column curves (lordosis) and the head sits rotated in the
scanner. The frame is:

- ``w`` (superior): along the column, from the centroid of the level below towards the level
  above (C2..C7 only: C1's ring sits differently), or the scanner's superior axis without
  neighbours;
- ``v`` (posterior): the scanner's posterior axis made orthogonal to ``w``, then turned about
  ``w`` to the angle at which the vertebra is most nearly mirror-symmetric (axial rotation);
- ``u`` (to the patient's left) = ``v`` × ``w``;

with its origin at the level's centroid. Coordinates are LPS mm throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..volume import CTVolume

#: Axial rotations (degrees) tried for the symmetry plane, coarse then fine around the best.
COARSE_YAW = np.arange(-30.0, 30.01, 3.0)
FINE_YAW = np.arange(-2.5, 2.51, 0.5)
#: Voxels used for the symmetry score (a random subset: the score is an average).
SYMMETRY_POINTS = 6000


@dataclass(frozen=True)
class VertebraFrame:
    """A vertebra's frame in LPS mm: ``origin`` and the unit axes ``u`` (left), ``v``
    (posterior), ``w`` (superior), each shape (3,); ``symmetry`` is the share of the mask's
    voxels whose mirror image across the mid-sagittal plane is in the mask too (1 = symmetric;
    a mask that holds half a vertebra scores low, and its heights cannot be trusted)."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    symmetry: float = 1.0

    def to_local(self, lps: np.ndarray) -> np.ndarray:
        """(..., 3) LPS mm -> (..., 3) local (u, v, w) mm."""
        d = np.asarray(lps, float) - self.origin
        return np.stack([d @ self.u, d @ self.v, d @ self.w], axis=-1)

    def to_lps(self, local: np.ndarray) -> np.ndarray:
        """(..., 3) local (u, v, w) mm -> (..., 3) LPS mm."""
        local = np.asarray(local, float)
        return self.origin + local[..., 0:1] * self.u + local[..., 1:2] * self.v + local[..., 2:3] * self.w


def level_points(ct: CTVolume, labels: np.ndarray, value: int) -> np.ndarray:
    """LPS positions (N, 3) mm of the voxels of one label; ``labels`` is (z, y, x) on ``ct``'s grid."""
    kji = np.argwhere(labels == value)
    return ct.index_to_lps(kji[:, ::-1].astype(float))


def superior_axis(centroids: dict[int, np.ndarray], value: int) -> np.ndarray:
    """Unit superior axis of level ``value`` from its neighbours' centroids (C2..C7), LPS."""
    own = centroids[value]
    above = centroids.get(value - 1) if value - 1 >= 2 else None
    below = centroids.get(value + 1)
    if above is not None and below is not None:
        w = above - below
    elif above is not None:
        w = above - own
    elif below is not None:
        w = own - below
    else:
        w = np.array([0.0, 0.0, 1.0])
    w = w / max(float(np.linalg.norm(w)), 1e-9)
    return w if w[2] >= 0 else -w  # LPS +z is superior


def vertebra_frame(ct: CTVolume, labels: np.ndarray, value: int, centroids: dict[int, np.ndarray],
                   seed: int = 0) -> VertebraFrame:
    """The frame of level ``value`` (see the module docstring).

    Args:
        ct: the grid of ``labels`` (its geometry only).
        labels: (z, y, x) label map, 1..7 = C1..C7.
        value: the level's label.
        centroids: LPS centroid of every present level (label -> (3,)).
        seed: seed of the voxel subset used for the symmetry score (deterministic).
    """
    origin = centroids[value]
    w = superior_axis(centroids, value)
    posterior = np.array([0.0, 1.0, 0.0])
    v0 = posterior - (posterior @ w) * w
    if np.linalg.norm(v0) < 1e-6:  # the column lies along the scanner's A-P axis (not a neck CT)
        v0 = np.array([1.0, 0.0, 0.0]) - w[0] * w
    v0 /= np.linalg.norm(v0)
    u0 = np.cross(v0, w)
    pts = level_points(ct, labels, value)
    if len(pts) > SYMMETRY_POINTS:
        pts = pts[np.random.default_rng(seed).choice(len(pts), SYMMETRY_POINTS, replace=False)]
    mask = labels == value

    def score(deg: float) -> float:
        a = np.radians(deg)
        u = np.cos(a) * u0 + np.sin(a) * v0
        mirrored = pts - 2.0 * ((pts - origin) @ u)[:, None] * u
        ijk = np.round(ct.lps_to_index(mirrored)).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(ct.shape_xyz)), axis=1)
        hits = np.zeros(len(pts), bool)
        hits[inside] = mask[ijk[inside, 2], ijk[inside, 1], ijk[inside, 0]]
        return float(hits.mean())

    best = max(COARSE_YAW, key=score)
    best = max(best + FINE_YAW, key=score)
    a = np.radians(best)
    u = np.cos(a) * u0 + np.sin(a) * v0
    v = np.cross(w, u)
    return VertebraFrame(origin, u, v, w, round(score(best), 4))


__all__ = ["VertebraFrame", "level_points", "superior_axis", "vertebra_frame"]
