"""The localizer: where the cervical spine is in any CT, and which levels are in view — or that none is.

A small U-Net (:class:`~.unet.SpineUNet`, 2 input channels) over the whole scan at 4 mm
(:mod:`~SpineFractureLib.preprocess.localizer_input`) gives each voxel one of three classes:
background, cervical vertebra (C1..C7), other vertebra (T1..L3). Trained on phantoms of every
field of view (neck, head and neck, chest, abdomen, head, whole body), it is what tells the
pipeline that a chest CT's thoracic vertebrae are not cervical and that a head CT holds no
cervical spine; the bone-column heuristic of :mod:`~SpineFractureLib.preprocess.crop` alone
cannot. Which level each cervical vertebra is stays the segmentation's job.

Weights files hold ``format``, ``arch`` (:func:`~.cascade.unet_arch`), ``state_dict`` (float16) and
``meta``; registered ones are sha256-checked like the other models (task ``localization``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ..data.localizer_cases import CERVICAL, N_LOCALIZER_CLASSES, OTHER_VERTEBRA
from ..errors import InputError
from ..io.staging import staged_file
from ..preprocess.crop import region_of_mask
from ..preprocess.localizer_input import LOCALIZER_MM, N_LOCALIZER_CHANNELS, localizer_channels, localizer_volume
from ..volume import CTVolume
from .cascade import unet_arch, unet_from_arch
from .registry import REGISTRY_PATH, ModelInfo, model_info, read_weights, sha256_of
from .unet import SpineUNet

log = logging.getLogger(__name__)
LOCALIZER_FORMAT = "spinefracture-localizer-1"
LOCALIZER_CHANNELS = (8, 16, 32, 64)
#: A cervical spine is in view when the cervical voxels on the column hold at least this volume
#: (ml): one cervical vertebra is 5-15 ml, a 4 mm voxel 0.064 ml.
MIN_CERVICAL_ML = 4.0
#: A vertebral column runs head to feet: a column piece shorter than this (mm) is not one (a
#: stretch of skull wall the network misread, in a held-out head phantom) unless the scan's lower
#: edge cuts it (:data:`MIN_CUT_COLUMN_MM`).
MIN_COLUMN_MM = 60.0
#: A column that reaches the body's lowest slice (:data:`COLUMN_EDGE_MM`) may be this short (mm):
#: a head CT that ends at C2 holds 32-36 mm of column (head-upper-neck phantoms 1274000-1274003),
#: while the short skull-wall pieces of head-only phantoms that reach the lowest slice are 8-16 mm.
MIN_CUT_COLUMN_MM = 28.0
#: The cervical spine lies in the body's left-right middle: its centre at most this far (mm) from
#: the centre of the body in the same slices (a stretch of skull wall lies 30 mm or more off it).
MAX_OFF_MIDLINE_MM = 20.0
#: A cervical spine has more spine below it: its column reaches the body's lowest slice (within
#: this many mm) or holds at least :data:`MIN_SPINE_BELOW_ML` of other vertebrae below the
#: cervical voxels' centre. On 48 head-only phantoms (generator 1.2, seeds 1290000-1290047) the
#: network marked stretches of the occipital skull wall "cervical", on the midline, 60-76 mm tall,
#: 7-17 ml, ending 20-56 mm above the scan's lower edge with no other vertebra below them; and the
#: segmentation reported one of them (1290034) as C2-C3. Every spine in 80 phantoms of every field
#: of view reached the lowest slice.
COLUMN_EDGE_MM = 8.0
MIN_SPINE_BELOW_ML = 5.0
#: Above this (HU) a voxel is in the body.
_BODY_HU = -400.0
#: The junction of the cervical and the thoracic spine counts as seen only where the column's
#: other-vertebra rows below it span at least this much (mm): a whole T1 with its disc. At a scan's
#: lower edge the network calls a cut C6 or C7 "other vertebra" over 12-16 mm (development
#: phantoms 1200007 and 1201003, seeds used by nothing else), which is no junction.
MIN_THORACIC_RUN_MM = 24.0
#: A run of other-vertebra rows that reaches the scan's lower edge must span this much (mm): in
#: neck scans cut at C6 the network called C5-C6 "other vertebra" over 24-28 mm down to the edge
#: (phantoms 1240007, 1240013), and true neck junctions run 28-44 mm to it (1200002-1200006);
#: a chest CT's thoracic spine runs 300 mm or more.
MIN_EDGE_THORACIC_RUN_MM = 60.0
#: Other-vertebra rows at the bottom of the column that reach the scan's lower edge over less than
#: this (mm), shorter than a whole T1 with its disc (:data:`MIN_THORACIC_RUN_MM`), are a vertebra
#: the edge cuts: the network called cut C6s "other vertebra" over 12-16 mm (session 24), and
#: mesh-anatomy validation phantoms 1310007 and 1310015 lost their C6 to it.
MAX_CUT_EDGE_RUN_MM = 20.0


def new_localizer_network(channels: tuple[int, ...] = LOCALIZER_CHANNELS) -> SpineUNet:
    """A fresh localizer network (2 input channels, 3 classes, no fracture channel)."""
    return SpineUNet(N_LOCALIZER_CHANNELS, channels, n_classes=N_LOCALIZER_CLASSES, fracture_channel=False)


def save_localizer(path: str | os.PathLike, net: SpineUNet, *, name: str, version: str, trained_on: str,
                   extra_meta: dict[str, Any] | None = None) -> str:
    """Write a localizer weights file (temporary name, then rename). Returns its sha256."""
    blob = {"format": LOCALIZER_FORMAT, "arch": unet_arch(net),
            "state_dict": {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()},
            "meta": {"name": name, "version": version, "trained_on": trained_on, **(extra_meta or {})}}
    with staged_file(path) as tmp:
        torch.save(blob, tmp)
    return sha256_of(path)


def load_localizer(name_or_path: str = "default",
                   registry_path: str | os.PathLike = REGISTRY_PATH) -> tuple[SpineUNet, ModelInfo]:
    """Load registered localizer weights (sha256 checked first) or a file from :func:`save_localizer`.

    Raises:
        InputError: unknown name, missing, damaged or foreign file, weights that do not fit.
    """
    blob, path, entry, digest = read_weights(name_or_path, "localization", LOCALIZER_FORMAT, registry_path,
                                             hint="`spinefracture train-loc` writes model.pt beside it")
    try:
        net = unet_from_arch(blob["arch"])
        net.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    except (KeyError, ValueError, RuntimeError) as err:
        raise InputError(path, f"localizer weights do not fit the network ({err})") from err
    return net.eval(), model_info(blob, path, entry, digest)


@dataclass
class Localization:
    """What the localizer found in one CT.

    Attributes:
        classes: uint8 (z, y, x) class map on ``grid`` (0 background, 1 cervical, 2 other vertebra).
        grid: the 4 mm identity-direction grid the map lies on.
        cervical_ml: volume (ml) of the cervical voxels on the column.
        box_lps: ((x, y, z) min, (x, y, z) max) LPS mm of them, or None when no cervical spine is in view.
        mask: bool (z, y, x) on ``grid``: those voxels (None when none is in view).
        junction_z_mm: LPS z (mm) where the cervical spine meets the thoracic one, when the scan
            shows both (:func:`cervicothoracic_junction_mm`); None otherwise.
        cut_edge: bool (z, y, x) on ``grid``: the column's other-vertebra voxels in a run shorter
            than :data:`MAX_CUT_EDGE_RUN_MM` that continues the cervical spine down to the scan's
            lower edge (:func:`cut_edge_run`): a cut vertebra, cervical or not; None when none.
    """

    classes: np.ndarray
    grid: CTVolume
    cervical_ml: float = 0.0
    box_lps: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    mask: np.ndarray | None = None
    junction_z_mm: float | None = None
    cut_edge: np.ndarray | None = None

    @property
    def found(self) -> bool:
        """True when a cervical spine is in view (a piece of at least :data:`MIN_CERVICAL_ML`)."""
        return self.box_lps is not None

    def cervical_mask(self, dilate_mm: float = 0.0) -> CTVolume:
        """uint8 mask (on ``grid``) of the cervical spine found, grown by ``dilate_mm``."""
        keep = self.mask.copy() if self.found else np.zeros(self.classes.shape, bool)
        return self._grown(keep, dilate_mm)

    def region_mask(self, dilate_mm: float = 0.0) -> CTVolume:
        """uint8 mask of where a cervical level may lie: the cervical spine found and a vertebra cut
        by the scan's lower edge below it (:attr:`cut_edge`; its name is the segmentation's), grown
        by ``dilate_mm``."""
        keep = self.mask.copy() if self.found else np.zeros(self.classes.shape, bool)
        if self.found and self.cut_edge is not None:
            keep |= self.cut_edge
        return self._grown(keep, dilate_mm)

    def _grown(self, keep: np.ndarray, dilate_mm: float) -> CTVolume:
        steps = int(round(dilate_mm / LOCALIZER_MM))
        if steps > 0 and keep.any():
            keep = ndimage.binary_dilation(keep, iterations=steps)
        return self.grid.with_array(keep.astype(np.uint8))


class Localizer:
    """Load the localizer once, then :meth:`locate` per CT.

    Args:
        model: registered name, ``default``, or a weights file from ``train-loc``.
        device: a torch device.
    """

    def __init__(self, model: str = "default", device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.net, self.info = load_localizer(model)
        self.net.to(self.device)

    @torch.no_grad()
    def locate(self, ct: CTVolume) -> Localization:
        """Find the cervical spine in ``ct`` (HU, any orientation and spacing; array (z, y, x))."""
        vol = localizer_volume(ct)
        classes = predict_classes(self.net, vol.array, self.device)
        return localization_from_classes(classes, vol)


def predict_classes(net: SpineUNet, hu: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Arg-max classes (z, y, x) uint8 of a 4 mm HU array (padded to the network's stride)."""
    stride = net.encoder.stride
    shape = np.asarray(hu.shape)
    padded = -(-shape // stride) * stride
    x = np.pad(localizer_channels(hu), [(0, 0)] + [(0, int(p - s)) for p, s in zip(padded, shape)])
    logits = net(torch.from_numpy(x)[None].to(device))[0]
    classes = logits.argmax(0).to(torch.uint8).cpu().numpy()
    return classes[: shape[0], : shape[1], : shape[2]]


def _off_midline_mm(mask: np.ndarray, grid: CTVolume) -> float:
    """Left-right distance (mm) from the centre of ``mask`` to the body's centre in the same slices (0 if no body)."""
    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    body = grid.array[rows] > _BODY_HU
    if not body.any():
        return 0.0
    return float(abs(np.nonzero(mask)[2].mean() - np.nonzero(body)[2].mean()) * grid.spacing[0])


def localization_from_classes(classes: np.ndarray, grid: CTVolume) -> Localization:
    """The cervical spine of a class map, or none.

    The column is the largest connected piece of vertebra voxels (either class; grown by 8 mm so
    that the discs between bodies do not split it). Its cervical voxels are the cervical spine if
    they hold at least :data:`MIN_CERVICAL_ML`, the column is at least :data:`MIN_COLUMN_MM` tall,
    and they lie at the column's top: a cervical spine has
    no column above it, so cervical voxels with more other-vertebra volume above their centre
    than their own volume (a lumbar body the network misread, on the real VerSe CT) are not one.
    Cervical voxels off the column (the humeri of a real chest CT, which the phantoms lack) never
    count, and the spine must lie within :data:`MAX_OFF_MIDLINE_MM` of the body's left-right middle.

    Args:
        classes: uint8 (z, y, x) on ``grid``; ``grid`` has identity direction (z towards the head)
            and holds the 4 mm HU the classes were predicted from (zeros: no body test).
    """
    vertebra = classes > 0
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    if not vertebra.any():
        return Localization(classes, grid)
    grown = ndimage.binary_dilation(vertebra, iterations=max(1, int(round(8.0 / LOCALIZER_MM))))
    comp, n = ndimage.label(grown)
    sizes = ndimage.sum(vertebra, comp, index=np.arange(1, n + 1))
    column = comp == (int(np.argmax(sizes)) + 1)
    rows = np.nonzero((column & vertebra).any(axis=(1, 2)))[0]
    height_mm = (rows.max() - rows.min() + 1) * grid.spacing[2]
    above_bottom_mm = _mm_above_body_bottom(grid, int(rows.min()))
    at_edge = above_bottom_mm <= COLUMN_EDGE_MM
    if height_mm < (MIN_CUT_COLUMN_MM if at_edge else MIN_COLUMN_MM):
        return Localization(classes, grid)
    main = column & (classes == CERVICAL)
    ml = float(main.sum()) * voxel_ml
    if ml < MIN_CERVICAL_ML:
        return Localization(classes, grid, round(ml, 2))
    kji = np.argwhere(main)
    off = _off_midline_mm(main, grid)
    if off > MAX_OFF_MIDLINE_MM:
        log.info("cervical-looking voxels (%.1f ml) lie %.0f mm off the body's middle: not a cervical spine", ml, off)
        return Localization(classes, grid, 0.0)
    centre_k = kji[:, 0].mean()
    if not at_edge and not _spine_below(column, classes, centre_k, voxel_ml):
        log.info("cervical-looking voxels (%.1f ml) end %.0f mm above the body's lowest slice with no vertebra "
                 "below them: not a cervical spine", ml, above_bottom_mm)
        return Localization(classes, grid, 0.0)
    above = column & (classes == OTHER_VERTEBRA)
    above[: int(np.ceil(centre_k))] = False
    if float(above.sum()) * voxel_ml > ml:
        log.info("cervical-looking voxels (%.1f ml) lie below %.1f ml of other vertebrae: not a cervical spine",
                 ml, float(above.sum()) * voxel_ml)
        return Localization(classes, grid, 0.0)
    box = region_of_mask(grid.with_array(main), LOCALIZER_MM / 2)
    on_column = np.where(column, classes, 0)
    return Localization(classes, grid, round(ml, 2), box, main, cervicothoracic_junction_mm(on_column, grid),
                        cut_edge_run(on_column, main, grid))


def _mm_above_body_bottom(grid: CTVolume, row: int) -> float:
    """How far (mm) slice ``row`` lies above the lowest slice holding body (or the grid's lowest)."""
    body_rows = np.nonzero((grid.array > _BODY_HU).any(axis=(1, 2)))[0]
    return (row - (int(body_rows.min()) if body_rows.size else 0)) * grid.spacing[2]


def _spine_below(column: np.ndarray, classes: np.ndarray, centre_k: float, voxel_ml: float) -> bool:
    """Whether a column holds at least :data:`MIN_SPINE_BELOW_ML` of other vertebrae below slice ``centre_k``."""
    below = column & (classes == OTHER_VERTEBRA)
    below[int(np.floor(centre_k)):] = False
    return float(below.sum()) * voxel_ml >= MIN_SPINE_BELOW_ML


def cut_edge_run(classes: np.ndarray, cervical: np.ndarray, grid: CTVolume,
                 max_run_mm: float = MAX_CUT_EDGE_RUN_MM) -> np.ndarray | None:
    """The other-vertebra voxels of a column between its cervical spine and the scan's lower edge,
    where they span fewer than ``max_run_mm``: a vertebra cut by the edge (else None).

    Args:
        classes: uint8 (z, y, x) class map of the column's voxels (identity direction, z up).
        cervical: bool (z, y, x): the cervical spine found.
        grid: the map's grid.
    """
    rows = np.nonzero(cervical.any(axis=(1, 2)))[0]
    if rows.size == 0 or rows.min() == 0:
        return None
    below = classes[: rows.min()] == OTHER_VERTEBRA
    column_rows = np.nonzero((classes[: rows.min()] > 0).any(axis=(1, 2)))[0]
    # The rows below the cervical spine hold column voxels without a gap down to the lowest or
    # the next row (the map's edge row may hold only partial voxels, as the junction reads it).
    if (not below.any() or column_rows.size == 0 or column_rows[0] > 1
            or column_rows.size != rows.min() - column_rows[0] or rows.min() * grid.spacing[2] >= max_run_mm):
        return None
    out = np.zeros(classes.shape, bool)
    out[: rows.min()] = below
    return out


def cervicothoracic_junction_mm(classes: np.ndarray, grid: CTVolume, min_run_mm: float = MIN_THORACIC_RUN_MM,
                                min_edge_run_mm: float = MIN_EDGE_THORACIC_RUN_MM) -> float | None:
    """LPS z (mm) of the junction of the cervical and the thoracic spine in a class map, or None.

    Radiologists count a chest CT's levels up from T1 because the junction, not the top of the
    scan, fixes the numbering; this gives the segmentation the same anchor. Each slice of the
    column is cervical where it holds more cervical voxels than other-vertebra ones. Going down
    from the top, the junction is the first change from a cervical slice to other-vertebra slices
    that go on for ``min_run_mm`` (``min_edge_run_mm`` where they reach the map's lowest slice, the
    scan's lower edge); half-way between the two slices.

    Args:
        classes: uint8 (z, y, x) class map (0 background, 1 cervical, 2 other vertebra), the
            column's voxels only; ``grid``'s direction is the identity (z towards the head).
        grid: the map's grid.
        min_run_mm: how far the other-vertebra slices below must reach.
        min_edge_run_mm: the same for slices that reach the map's lowest slice.
    """
    cervical = (classes == CERVICAL).sum(axis=(1, 2))
    other = (classes == OTHER_VERTEBRA).sum(axis=(1, 2))
    rows = [k for k in range(classes.shape[0] - 1, -1, -1) if cervical[k] or other[k]]  # top down
    is_cervical = [bool(cervical[k] > other[k]) for k in rows]
    dz = grid.spacing[2]
    for i in range(1, len(rows)):
        if not (is_cervical[i - 1] and not is_cervical[i]):
            continue
        run = i
        while run + 1 < len(rows) and not is_cervical[run + 1]:
            run += 1
        needed = min_edge_run_mm if rows[run] <= 1 else min_run_mm
        if (rows[i] - rows[run] + 1) * dz >= needed:
            return float(grid.origin[2] + dz * (rows[i - 1] + rows[i]) / 2.0)
    return None


__all__ = ["LOCALIZER_FORMAT", "LOCALIZER_CHANNELS", "Localization", "Localizer", "MIN_CERVICAL_ML", "MAX_OFF_MIDLINE_MM",
           "MIN_COLUMN_MM", "MIN_CUT_COLUMN_MM", "COLUMN_EDGE_MM", "MIN_SPINE_BELOW_ML", "MAX_CUT_EDGE_RUN_MM", "MIN_EDGE_THORACIC_RUN_MM", "MIN_THORACIC_RUN_MM", "N_LOCALIZER_CLASSES", "cervicothoracic_junction_mm",
           "load_localizer", "localization_from_classes", "new_localizer_network",
           "predict_classes", "save_localizer"]
