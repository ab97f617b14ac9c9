"""``train-seg`` and ``pretrain``: configurations and the two training entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..data.phantom_loaders import phantom_set_loaders
from ..errors import InputError
from ..models.cascade import stage_network
from ..models.checkpoint import load_checkpoint
from ..models.encoder import DEFAULT_CHANNELS
from ..models.mae import DEFAULT_MASK_RATIO, DEFAULT_PATCH, SpineMAE
from ..preprocess.coarse import COARSE_FACTOR
from .config import ConfigMixin, PhantomSetsMixin
from .distributed import distributed_run
from .loop import LoopOptions, train_loop
from .losses import SegmentationLoss
from .seg_data import STAGES, PreparedCache, SegmentationDataset

log = logging.getLogger(__name__)


@dataclass
class TrainConfig(PhantomSetsMixin, ConfigMixin):
    """Everything a training run needs (JSON file or CLI flags; stored in each checkpoint).

    Attributes:
        out: output folder (checkpoints).
        stage: ``levels`` (the 2 mm whole-crop C1..C7 network) or ``vertebra`` (the 1 mm
            vertebra/background and fracture-region network); see :data:`STAGES`.
        data: a labelled dataset folder (case folders, RSNA or VerSe), or None for phantoms.
        phantom_seeds: [first, count] of the phantom seeds used when ``data`` is None.
        phantom_config: :class:`~SpineFractureLib.data.phantom.PhantomConfig` keyword arguments
            of those phantoms (e.g. ``{"anatomy": "mesh"}``); None: the default generator.
        extra_phantoms: more phantom sets trained on together with the first, each
            ``{"seeds": [first, count], "config": {...}}`` (e.g. mesh and procedural vertebrae mixed).
        cache: folder for prepared crops (None: prepare on the fly every time).
        patch_zyx: training crop (z, y, x) voxels at 1 mm (``vertebra`` stage and MAE).
        channels: encoder channels per stage.
        use_priors: feed the bone-likelihood and edge channels (False zeroes them; ablation).
        geometry_weight: weight of the geometry-consistency loss (0 = off; ablation).
        geometry_start: fraction of the run (0..1) trained on Dice+CE alone before the geometry
            term ramps in (linearly, over a tenth of the run); 0 = on from the first step. The
            default 0.5 was chosen on validation phantoms (model card, ablation).
        fracture_weight: weight of the fracture-region loss.
        scan_cuts: ``levels`` stage: probability that a training crop is shown as a scan ending
            inside one of its vertebrae (a head CT reaching the upper neck; 0 = never).
        box_jitter_mm: ``levels`` stage: largest shift (mm) of a crop whose top lies above the scan
            (a chest CT's box, placed from the localizer's junction; 0 = none, as 0.6.0 was
            trained; :data:`~.fov_cut.BOX_JITTER_MM` covers the junction's error).
        mae_checkpoint: an MAE checkpoint to initialise the encoder from (None: random init).
        finetune: segmentation weights (a registered name such as ``default``, or a file written by
            ``export-seg``) whose network of this stage starts the run instead of ``mae_checkpoint``:
            to train the shipped model further, on new phantoms or one's own data.
        mask_ratio, mae_patch: MAE masking (pretraining only).
        device: auto, cpu, cuda or mps.
        loop: steps, learning rate, seed, checkpoint frequency, AMP, workers.
    """

    out: str = "runs/seg"
    stage: str = "vertebra"
    data: str | None = None
    phantom_seeds: tuple[int, int] = (1000, 200)
    phantom_config: dict[str, Any] | None = None
    extra_phantoms: list[dict[str, Any]] = field(default_factory=list)
    cache: str | None = None
    patch_zyx: tuple[int, int, int] = (96, 96, 96)
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    use_priors: bool = True
    geometry_weight: float = 0.5
    geometry_start: float = 0.5
    fracture_weight: float = 0.5
    scan_cuts: float = 0.0
    box_jitter_mm: float = 0.0
    mae_checkpoint: str | None = None
    finetune: str | None = None
    mask_ratio: float = DEFAULT_MASK_RATIO
    mae_patch: int = DEFAULT_PATCH
    device: str = "auto"
    loop: LoopOptions = field(default_factory=LoopOptions)

    TUPLE_KEYS: ClassVar[tuple[str, ...]] = ("phantom_seeds", "patch_zyx", "channels")

    def validate(self) -> None:
        """Check the stage and the geometry schedule (ValueError)."""
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if not 0.0 <= self.geometry_start < 1.0:
            raise ValueError(f"geometry_start must be in [0, 1), got {self.geometry_start}")
        if not 0.0 <= self.scan_cuts <= 1.0:
            raise ValueError(f"scan_cuts must be in [0, 1], got {self.scan_cuts}")
        if self.box_jitter_mm < 0:
            raise ValueError(f"box_jitter_mm must be at least 0, got {self.box_jitter_mm}")
        self.check_phantom_sets()


def geometry_weight_at(step: int, cfg: TrainConfig) -> float:
    """The geometry term's weight at a 0-based step: 0 before ``geometry_start``, then a linear ramp.

    The level-stage ablation (model card) found the term, on from step 0, kept the training loss
    near 0.67 after 1500 steps against 0.18 without it; switched on half-way it costs nothing
    (0.18), so it refines levels the network has already learnt.

    Args:
        step: the optimisation step, counted from 0.
        cfg: the run's configuration (``geometry_weight``, ``geometry_start``, ``loop.steps``).

    Returns:
        The weight to give the geometry term at that step.
    """
    if cfg.geometry_start == 0:
        return cfg.geometry_weight
    start = cfg.geometry_start * cfg.loop.steps
    if step < start:
        return 0.0
    ramp = max(1.0, 0.1 * cfg.loop.steps)
    return cfg.geometry_weight * min(1.0, (step - start + 1) / ramp)


def _samples(cfg: TrainConfig, labelled: bool = True) -> PreparedCache:
    if cfg.data and not labelled:
        from ..data.unlabelled_dirs import list_unlabelled_cts

        loaders = list_unlabelled_cts(cfg.data)
    elif cfg.data:
        from ..data.labelled_dirs import list_labelled_cases

        loaders = list_labelled_cases(cfg.data)
    else:
        loaders = phantom_set_loaders(cfg.phantom_sets())
    return PreparedCache(loaders, cfg.cache)


def _start_network(cfg: TrainConfig, resume: str | None) -> torch.nn.Module:
    """The stage's network, initialised from ``finetune``'s weights, the MAE checkpoint, or at random."""
    model = stage_network(cfg.stage, cfg.channels)
    if resume:
        return model  # the loop loads the checkpoint
    if cfg.finetune:
        from ..models.cascade import unet_arch
        from ..models.registry import load_segmentation_model

        start, info = load_segmentation_model(cfg.finetune)
        net = getattr(start, cfg.stage)
        use_priors = getattr(start, f"{cfg.stage}_use_priors")
        if unet_arch(net) != unet_arch(model) or use_priors != cfg.use_priors:
            raise InputError(cfg.finetune, f"cannot start this run: its {cfg.stage} network differs from the "
                                           "configuration's (channels or prior inputs)")
        model.load_state_dict(net.state_dict())
        log.info("%s network initialised from segmentation %s %s", cfg.stage, info.name, info.version)
    elif cfg.mae_checkpoint:
        state = load_checkpoint(cfg.mae_checkpoint, "mae")
        model.load_encoder(state["model"])
        log.info("encoder initialised from MAE checkpoint %s", cfg.mae_checkpoint)
    return model


def train_segmentation(cfg: TrainConfig, resume: str | None = None) -> dict[str, Any]:
    """Train the structure-aware U-Net (runs unchanged under ``torchrun``).

    Args:
        cfg: the configuration.
        resume: a ``seg`` checkpoint to continue from.

    Returns:
        The loop summary (steps, first and last loss, seconds, checkpoint path).
    """
    with distributed_run(cfg.device) as info:
        torch.manual_seed(cfg.loop.seed)
        model = _start_network(cfg, resume)
        loss = SegmentationLoss(cfg.geometry_weight, cfg.fracture_weight, n_classes=model.n_classes)
        dataset = SegmentationDataset(_samples(cfg), cfg.patch_zyx, augment=True, use_priors=cfg.use_priors,
                                      seed=cfg.loop.seed, stage=cfg.stage, scan_cuts=cfg.scan_cuts,
                                      box_jitter=int(round(cfg.box_jitter_mm / COARSE_FACTOR)))  # 2 mm slices

        def step(net: torch.nn.Module, batch: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
            return loss(net(batch["image"]), batch["label"], batch["fracture"], batch["has_fracture"],
                        geometry_weight=geometry_weight_at(index, cfg))

        return train_loop(kind="seg", model=model, dataset=dataset, step_fn=step, options=cfg.loop,
                          out_dir=cfg.out, config=cfg.to_dict(), dist_info=info, resume=resume)


def pretrain_mae(cfg: TrainConfig, resume: str | None = None) -> dict[str, Any]:
    """MAE pretraining of the encoder on CT crops, without labels (runs under ``torchrun``).

    Args:
        cfg: the configuration (``mask_ratio``, ``mae_patch``, data, loop). ``data`` is any folder
            of CT volumes (image files or DICOM folders, labelled or not); without it, phantoms.
        resume: an ``mae`` checkpoint to continue from.

    Returns:
        The loop summary.
    """
    with distributed_run(cfg.device) as info:
        torch.manual_seed(cfg.loop.seed)
        model = SpineMAE(channels=cfg.channels, mask_ratio=cfg.mask_ratio, patch_size=cfg.mae_patch)
        dataset = SegmentationDataset(_samples(cfg, labelled=False), cfg.patch_zyx, augment=True,
                                      use_priors=cfg.use_priors, seed=cfg.loop.seed)

        def step(net: torch.nn.Module, batch: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
            value, _, _ = net(batch["image"])
            return {"total": value}

        return train_loop(kind="mae", model=model, dataset=dataset, step_fn=step, options=cfg.loop,
                          out_dir=cfg.out, config=cfg.to_dict(), dist_info=info, resume=resume)


__all__ = ["TrainConfig", "geometry_weight_at", "pretrain_mae", "train_segmentation"]
