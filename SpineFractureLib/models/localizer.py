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
from .column_anatomy import (
    COLUMN_EDGE_MM,
    MAX_AIRWAY_BEHIND_MM,
    MAX_OFF_MIDLINE_MM,
    MIN_CERVICAL_ML,
    MIN_COLUMN_MM,
    MIN_CUT_COLUMN_MM,
    airway_behind_mm,
    cervicothoracic_junction_mm,
    cut_edge_run,
    mm_above_body_bottom,
    off_midline_mm,
    spine_below,
    top_run,
)
from .registry import REGISTRY_PATH, ModelInfo, model_info, read_weights, sha256_of
from .unet import SpineUNet

log = logging.getLogger(__name__)
LOCALIZER_FORMAT = "spinefracture-localizer-1"
LOCALIZER_CHANNELS = (8, 16, 32, 64)


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
    above_bottom_mm = mm_above_body_bottom(grid, int(rows.min()))
    at_edge = above_bottom_mm <= COLUMN_EDGE_MM
    if height_mm < (MIN_CUT_COLUMN_MM if at_edge else MIN_COLUMN_MM):
        return Localization(classes, grid)
    main = top_run(column & (classes == CERVICAL), grid.spacing[2])
    ml = float(main.sum()) * voxel_ml
    if ml < MIN_CERVICAL_ML:
        return Localization(classes, grid, round(ml, 2))
    kji = np.argwhere(main)
    off = off_midline_mm(main, grid)
    if off > MAX_OFF_MIDLINE_MM:
        log.info("cervical-looking voxels (%.1f ml) lie %.0f mm off the body's middle: not a cervical spine", ml, off)
        return Localization(classes, grid, 0.0)
    behind = airway_behind_mm(main, grid)
    if behind is not None and behind > MAX_AIRWAY_BEHIND_MM:
        log.info("cervical-looking voxels (%.1f ml) lie %.0f mm in front of the airway: not a cervical spine", ml, behind)
        return Localization(classes, grid, 0.0)
    centre_k = kji[:, 0].mean()
    if not at_edge and not spine_below(column, classes, centre_k, voxel_ml):
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


__all__ = ["LOCALIZER_FORMAT", "LOCALIZER_CHANNELS", "Localization", "Localizer", "N_LOCALIZER_CLASSES",
           "load_localizer", "localization_from_classes", "new_localizer_network", "predict_classes", "save_localizer"]
