"""Rasterise the phantom onto the scanner grid: soft tissue slab by slab, then each bone and
disc only inside its own bounding box (which keeps a 256×256×200 phantom within seconds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...volume import CTVolume
from .fractures import Rendered
from .threads import ordered_map
from .texture import TrabecularTexture

Array = np.ndarray
#: Slices per slab when filling the soft tissue (bounds the memory of coordinate arrays).
SLAB = 48


@dataclass
class BoneObject:
    """A bone (or disc) to draw: its local frame, local bounding box and shape function."""

    name: str
    label: int  # 0 for bones that are not labelled vertebrae (occiput, ribs, mandible)
    frame_rotation: Array  # 3×3: anatomical = rotation @ local + centre
    frame_centre: Array
    lo: Array  # local bounding box (mm)
    hi: Array
    evaluate: Callable[[Array, Array, Array], Rendered]
    fill_hu: float | None = None  # soft fill (discs, brain): drawn only where no bone is
    joint_gap_mm: float = 0.0  # > 0: kept this far from bone drawn before it (see Canvas.paint)


@dataclass
class Shaped:
    """One bone evaluated on its box: what :meth:`Canvas.paint` paints (see :meth:`Canvas.shape`)."""

    box: tuple[slice, slice, slice]
    rendered: Rendered
    inside: Array  # bool, the bone (r.bone <= 0)
    mottle: Array | None  # texture HU at the inside voxels, or None


@dataclass(frozen=True)
class BoneHU:
    """Per-patient bone densities (HU) and cortex thickness (mm)."""

    cortical: float
    cancellous: float
    cortex_mm: float


class Canvas:
    """The arrays being drawn, axis order (z, y, x), and the grid-to-anatomy mapping."""

    def __init__(self, grid: CTVolume, pose: Array, translation: Array) -> None:
        self.grid = grid
        shape = grid.array.shape
        self.hu = np.empty(shape, dtype=np.float32)
        self.labels = np.zeros(shape, dtype=np.uint8)
        self.fracture = np.zeros(shape, dtype=np.uint8)
        self.is_bone = np.zeros(shape, dtype=bool)
        # index (i, j, k) -> anatomical mm: anat = pose^T (ijk_to_lps(idx) - translation)
        m = grid.ijk_to_lps()
        self._to_anat = np.eye(4)
        self._to_anat[:3, :3] = pose.T @ m[:3, :3]
        self._to_anat[:3, 3] = pose.T @ (m[:3, 3] - translation)
        self._pose, self._translation = pose, translation

    def coordinates(self, rotation: Array, centre: Array, box: tuple[slice, slice, slice]) -> tuple[Array, ...]:
        """Local coordinates (u, v, w) of the voxels in ``box`` (slices along z, y, x)."""
        a = np.eye(4)
        a[:3, :3] = rotation.T
        a[:3, 3] = -rotation.T @ centre
        m = a @ self._to_anat
        k = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None, None]
        j = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :, None]
        i = np.arange(box[2].start, box[2].stop, dtype=np.float32)[None, None, :]
        return tuple((m[r, 0] * i + m[r, 1] * j + m[r, 2] * k + m[r, 3]).astype(np.float32) for r in range(3))

    def box_of(self, obj: BoneObject) -> tuple[slice, slice, slice] | None:
        """Index box (z, y, x slices) covering the object's local bounding box, or None if outside."""
        corners = np.array([[x, y, z] for x in (obj.lo[0], obj.hi[0]) for y in (obj.lo[1], obj.hi[1])
                            for z in (obj.lo[2], obj.hi[2])])
        anat = corners @ obj.frame_rotation.T + obj.frame_centre
        world = anat @ self._pose.T + self._translation
        ijk = self.grid.lps_to_index(world)
        lo = np.maximum(np.floor(ijk.min(axis=0)).astype(int), 0)
        hi = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, self.grid.shape_xyz)
        if np.any(hi <= lo):
            return None
        return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])

    def fill_soft_tissue(self, tissue: Callable[[Array, Array, Array], Array], threads: int = 1) -> None:
        """Fill ``hu`` slab by slab with ``tissue(x, y, z)`` of anatomical coordinates.

        ``threads``: slabs computed at once (each writes only its own slices: the same bytes).
        """
        nz, ny, nx = self.hu.shape

        def fill(k0: int) -> None:
            box = (slice(k0, min(k0 + SLAB, nz)), slice(0, ny), slice(0, nx))
            x, y, z = self.coordinates(np.eye(3), np.zeros(3), box)
            self.hu[box] = tissue(*np.broadcast_arrays(x, y, z))

        for _ in ordered_map(fill, range(0, nz, SLAB), threads):
            pass

    def shape(self, obj: BoneObject, texture: TrabecularTexture | None = None) -> Shaped | None:
        """The part of drawing ``obj`` that reads nothing drawn so far (so bones can be shaped in
        parallel and painted in order): its box, shape and texture. None where it is off the grid."""
        box = self.box_of(obj)
        if box is None:
            return None
        u, v, w = np.broadcast_arrays(*self.coordinates(obj.frame_rotation, obj.frame_centre, box))
        r = obj.evaluate(u, v, w)
        inside = r.bone <= 0
        mottle = None
        if texture is not None and obj.fill_hu is None:
            mottle = texture.hu(u[inside], v[inside], w[inside], obj.name)
        return Shaped(box, r, inside, mottle)

    def paint(self, obj: BoneObject, hu: BoneHU, shaped: Shaped) -> None:
        """Paint one shaped bone over what is drawn, or a soft fill where no bone has been drawn yet."""
        box, r, inside = shaped.box, shaped.rendered, shaped.inside
        target = self.hu[box]
        if obj.fill_hu is not None:  # never over bone, nor over a vertebra's fracture gap
            target[inside & ~self.is_bone[box] & (self.labels[box] == 0)] = obj.fill_hu
            return
        cortical = inside & (r.shell > -hu.cortex_mm)
        labelled, gap = r.labelled, r.labelled & ~inside
        mottle = shaped.mottle
        if obj.joint_gap_mm > 0:
            space = self.joint_space(box, obj.joint_gap_mm, hu.cortex_mm)
            if space is not None:
                joint, plate = space
                if mottle is not None:
                    mottle = mottle[~joint[inside]]
                inside = inside & ~joint
                cortical = (cortical | plate) & inside
                labelled, gap = labelled & ~joint, gap & ~joint
        target[inside] = hu.cancellous + 120.0 * r.impaction[inside]
        if mottle is not None:
            target[inside] += mottle
        target[cortical] = hu.cortical
        if obj.label:
            target[gap] = 50.0  # haematoma in the fracture gap
            self.labels[box][labelled] = obj.label
            self.fracture[box][r.region] = 1
        self.is_bone[box] |= inside

    def joint_space(self, box: tuple[slice, slice, slice], gap_mm: float,
                    plate_mm: float) -> tuple[Array, Array] | None:
        """Where a bone drawn now must leave a joint with the bones drawn before it, in ``box``.

        Real vertebrae meet their neighbours at joints (facets, uncovertebral joints, the
        atlanto-axial joints) with a space of 1–2 mm between subchondral plates; the real-shape
        templates, scaled per level and placed on the procedural column, overlap or touch there, and
        a fused column reads like bridging bone or a fracture line closed at its ends (session 46).

        Args:
            box: index box (z, y, x slices) of the bone being drawn.
            gap_mm: the joint space (mm); at least one voxel is always left.
            plate_mm: thickness (mm) of the subchondral plate drawn along the joint.

        Returns:
            (joint, plate) bool arrays of the box: no bone of the new object in ``joint`` (within
            ``gap_mm`` of earlier bone, or next to it); cortical bone in ``plate`` (within
            ``gap_mm + plate_mm``). None where no bone was drawn in the box before.
        """
        earlier = self.is_bone[box]
        if not earlier.any():
            return None
        distance = ndimage.distance_transform_edt(~earlier, sampling=tuple(float(s) for s in self.grid.spacing[::-1]))
        joint = (distance < gap_mm) | ndimage.binary_dilation(earlier, structure=np.ones((3, 3, 3), bool))
        return joint, distance < gap_mm + plate_mm

    def draw_all(self, objects: Sequence[BoneObject], hus: Sequence[BoneHU],
                 texture: TrabecularTexture | None = None, threads: int = 1) -> None:
        """Draw ``objects`` in order (later ones over earlier ones), shaping up to ``threads`` ahead
        in parallel; the arrays are the same, byte for byte, as drawing them one by one.

        ``texture``: added to the cancellous HU, in each bone's own frame (None: flat cancellous bone).
        """
        if len(hus) != len(objects):
            raise ValueError(f"{len(objects)} objects but {len(hus)} densities")
        shaped = ordered_map(lambda obj: self.shape(obj, texture), objects, threads)
        for obj, hu, sh in zip(objects, hus, shaped):
            if sh is not None:
                self.paint(obj, hu, sh)
