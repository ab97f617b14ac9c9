"""``train-cls``: train the fracture classifier, calibrate it on a validation split, write its weights.

Runs unchanged under ``torchrun`` (the shared loop). After the last step, rank 0 runs the network
on the validation cases, chooses the readout (:mod:`.readout_choice`), fits the two temperatures,
finds the two operating points and writes ``model.pt`` (a weights file ``--model`` accepts)
beside the checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..data.cls_cases import ClsCache
from ..errors import InputError
from ..data.phantom_loaders import cancellous_range, phantom_set_loaders
from ..metrics.classification import fracture_region_bce, rsna_weighted_bce
from ..models.checkpoint import load_checkpoint
from ..models.classifier import CLS_CHANNELS, CONTEXTS, POOLS, FractureClassifier
from ..models.classifier_weights import CANCELLOUS_KEY, Calibration, load_classifier, save_classifier
from ..models.cls_readout import mirrored
from ..models.encoder import load_encoder_state
from ..models.registry import segmenter_tag
from ..preprocess.roi import RoiInputs
from .cls_dataset import ClassificationDataset
from .config import ConfigMixin, PhantomSetsMixin
from .distributed import distributed_run
from .loop import LoopOptions, train_loop
from .readout_choice import choose_readout

log = logging.getLogger(__name__)
INITS = ("segmentation", "none")


@dataclass
class ClsTrainConfig(PhantomSetsMixin, ConfigMixin):
    """A classifier training run (JSON file or CLI flags; stored in each checkpoint).

    Attributes:
        out: output folder (``last.pt`` checkpoint, ``model.pt`` calibrated weights).
        data: a labelled dataset folder (case folders, RSNA 2022), or None for phantoms.
        phantom_seeds: [first, count] of training phantoms when ``data`` is None.
        phantom_config: :class:`~SpineFractureLib.data.phantom.PhantomConfig` keyword arguments of
            the training and the validation phantoms (e.g. ``{"anatomy": "mesh"}``); None: the
            default generator.
        extra_phantoms: more training phantom sets, each ``{"seeds": [first, count], "config": {...}}``.
        val_data: a labelled folder for calibration, or None for ``val_phantom_seeds``.
        val_phantom_seeds: [first, count] of validation phantoms (temperature, operating points).
        cache: folder for prepared cases (the segmentation runs once per case).
        segmentation: the segmentation model that predicts masks and the fracture-region map.
        mask_source: ``predicted`` or ``given`` (a case's own mask where it has one).
        init: ``segmentation`` (the encoder of that model's vertebra network, itself MAE-
            pretrained), a path to an ``mae`` or ``seg`` checkpoint, or ``none`` (random; ablation).
        finetune: classifier weights (a registered name such as ``default``, or a ``model.pt``
            written by ``train-cls``) whose whole network starts the run instead of ``init``: to
            train the shipped classifier further or on one's own data. Its architecture must be
            the configuration's; the run may leave out an input it read (``windows`` 1,
            ``fracture_input`` false: that channel is zeros from then on), never add one.
        channels, dim: network sizes.
        level_embedding, context, windows, fracture_input: the ablation switches.
        region_weight: weight of the dense fracture-region loss where a case has a fracture mask
            (0: no region head, one label per level only; ablation).
        pool: ``mean`` or ``mean_max`` pooling of the encoder map per level.
        region_evidence: the region head's largest logit in each level's mask goes into that
            level's logit (multiple-instance pooling; needs ``region_weight`` > 0).
        embedding_std: initial spread of the level embedding.
        coarse_scans: probability that a training patient is seen as a coarser scanner would
            give it (in-plane 1–3.5 mm, slices 1–4 mm; :mod:`.scan_augment`); 0: the 0.1.x runs.
        fov_cuts: probability that a training patient's scan ends inside its top or bottom
            level (:mod:`.fov_cut`); 0: the runs up to 0.3.0.
        mask_shifts: probability that a training patient's mask has one boundary between two
            neighbouring levels moved 2–7 mm into one of them (:mod:`.mask_shift`); 0: the runs up to 0.3.1.
        bone_density: probability that a training patient's bone is made denser or less dense
            (−200 to +250 HU at the cortex, part of it in cancellous bone; :mod:`.bone_density`);
            0: the runs up to 0.3.1.
        neighbour_masks: probability that each neighbour-level mask channel of a ROI is grown or
            shrunk by 1-2 mm (``mask_surface.jitter_neighbour_masks``); 0: the runs up to 0.3.1.
        mask_surfaces: probability that all of a training patient's level masks are grown or
            shrunk together by 1-2 mm (``mask_surface.move_mask_surfaces``); 0: the runs up to 0.3.1.
        balanced: draw fractured and intact patients equally often.
        device: auto, cpu, cuda or mps.
        loop: steps, learning rate, seed, checkpoints, AMP, workers.
    """

    out: str = "runs/cls"
    data: str | None = None
    phantom_seeds: tuple[int, int] = (2000, 240)
    phantom_config: dict[str, Any] | None = None
    extra_phantoms: list[dict[str, Any]] = field(default_factory=list)
    val_data: str | None = None
    val_phantom_seeds: tuple[int, int] = (810000, 48)
    cache: str | None = None
    segmentation: str = "default"
    mask_source: str = "predicted"
    init: str = "segmentation"
    finetune: str | None = None
    channels: tuple[int, ...] = CLS_CHANNELS
    dim: int = 64
    level_embedding: bool = True
    context: str = "gru"
    windows: int = 3
    fracture_input: bool = True
    region_weight: float = 1.0
    pool: str = "mean"
    region_evidence: bool = False
    embedding_std: float = 1.0
    coarse_scans: float = 0.0
    fov_cuts: float = 0.0
    mask_shifts: float = 0.0
    bone_density: float = 0.0
    neighbour_masks: float = 0.0
    mask_surfaces: float = 0.0
    balanced: bool = True
    device: str = "auto"
    loop: LoopOptions = field(default_factory=lambda: LoopOptions(steps=1500, lr=1e-3, checkpoint_every=250))

    TUPLE_KEYS: ClassVar[tuple[str, ...]] = ("phantom_seeds", "val_phantom_seeds", "channels")

    def validate(self) -> None:
        """Check the switches (ValueError)."""
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {self.context!r}")
        if self.mask_source not in ("predicted", "given"):
            raise ValueError(f"mask_source must be predicted or given, got {self.mask_source!r}")
        RoiInputs(self.windows, self.fracture_input)
        if self.region_weight < 0:
            raise ValueError(f"region_weight must be >= 0, got {self.region_weight}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        for name in ("coarse_scans", "fov_cuts", "mask_shifts", "bone_density", "neighbour_masks", "mask_surfaces"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.region_evidence and self.region_weight <= 0:
            raise ValueError("region_evidence reads the fracture-region head, which region_weight 0 switches off")
        self.check_phantom_sets()

    def val_phantom_sets(self) -> list[dict[str, Any]]:
        """The validation phantoms: ``val_phantom_seeds`` drawn with ``phantom_config``."""
        return [{"seeds": list(self.val_phantom_seeds), "config": self.phantom_config}]

    @property
    def ablation(self) -> RoiInputs:
        """The input switches."""
        return RoiInputs(self.windows, self.fracture_input)


SegmenterFactory = Callable[[str], Any]


def case_cache(data: str | None, phantom_sets: list[dict[str, Any]], cfg: ClsTrainConfig,
               segmenter_factory: SegmenterFactory) -> ClsCache:
    """Prepared cases of a labelled folder or, without one, of phantom sets
    (``[{"seeds": [first, count], "config": {...}}, ...]``)."""
    if data:
        from ..data.labelled_dirs import list_classification_cases

        loaders = list_classification_cases(data)
    else:
        loaders = phantom_set_loaders(phantom_sets)
    return ClsCache(loaders, cfg.cache, lambda: segmenter_factory(cfg.segmentation), tag=segmenter_tag(cfg.segmentation))


def new_classifier(cfg: ClsTrainConfig) -> FractureClassifier:
    """A freshly initialised network of a configuration."""
    return FractureClassifier(channels=cfg.channels, dim=cfg.dim, level_embedding=cfg.level_embedding,
                              context=cfg.context, region_head=cfg.region_weight > 0, pool=cfg.pool,
                              embedding_std=cfg.embedding_std, region_evidence=cfg.region_evidence)


def build_classifier(cfg: ClsTrainConfig) -> FractureClassifier:
    """The network of a configuration, initialised as ``cfg.finetune`` or, without it, ``cfg.init`` says.

    Raises:
        InputError: ``cfg.finetune`` names weights of another architecture or other inputs.
    """
    net = new_classifier(cfg)
    if cfg.finetune:
        return _finetune_start(net, cfg)
    if cfg.init == "none":
        return net
    if cfg.init == "segmentation":
        from ..models.registry import load_segmentation_model

        seg, info = load_segmentation_model(cfg.segmentation)
        load_encoder_state(net.encoder, seg.vertebra.encoder.state_dict(), allow_deeper=True)
        log.info("encoder initialised from %s %s (vertebra network)", info.name, info.version)
        return net
    state = load_checkpoint(cfg.init)
    load_encoder_state(net.encoder, state["model"], allow_deeper=True)
    log.info("encoder initialised from checkpoint %s (%s)", cfg.init, state.get("kind"))
    return net


def _finetune_start(net: FractureClassifier, cfg: ClsTrainConfig) -> FractureClassifier:
    start = load_classifier(cfg.finetune)
    differ = sorted(k for k in set(net.arch) | set(start.network.arch) if net.arch.get(k) != start.network.arch.get(k))
    had_windows = int(start.inputs.get("windows", cfg.windows))
    had_map = bool(start.inputs.get("fracture_input", cfg.fracture_input))
    # An input left out is a channel of zeros (RoiInputs.apply): a run may drop an input the start
    # network read (fewer windows, no fracture map), never add one it was trained without.
    if cfg.windows > had_windows:
        differ.append("windows")
    if cfg.fracture_input and not had_map:
        differ.append("fracture_input")
    if differ:
        raise InputError(cfg.finetune, "cannot start this run: its network differs from the configuration's in "
                                + ", ".join(differ))
    if cfg.windows < had_windows or had_map and not cfg.fracture_input:
        log.info("the fine-tune leaves out inputs the start network read (windows %d -> %d, fracture map %s -> %s)",
                 had_windows, cfg.windows, had_map, cfg.fracture_input)
    net.load_state_dict(start.network.state_dict())
    log.info("whole network initialised from classifier %s %s", start.info.name, start.info.version)
    return net


def trained_bone_meta(cfg: ClsTrainConfig) -> dict[str, list[float]]:
    """``{CANCELLOUS_KEY: [low, high]}``: the cancellous HU range of every phantom the weights learnt from.

    A fine-tune adds its start's range where the start's weights say it; training on a labelled
    folder (``cfg.data``) records nothing, since its bone density is not known.
    """
    if cfg.data:
        return {}
    low, high = cancellous_range(cfg.phantom_sets())
    start = load_classifier(cfg.finetune).cancellous_hu if cfg.finetune else None
    if start:
        low, high = min(low, start[0]), max(high, start[1])
    return {CANCELLOUS_KEY: [low, high]}


@torch.no_grad()
def predict_logits(net: FractureClassifier, dataset: ClassificationDataset,
                   device: torch.device | str = "cpu") -> list[dict[str, np.ndarray]]:
    """Logits of every case of an un-augmented, unbalanced dataset, also of its mirrored ROIs.

    Returns:
        Per case: ``levels`` (P,), ``level_logits`` (P,), ``level_logits_flip`` (P,, the
        left-right mirrored ROIs), ``targets`` (P,), ``patient_logit``, ``patient_logit_flip``,
        ``patient``.
    """
    was = net.training
    net.eval()
    out = []
    for i in range(len(dataset)):
        item = dataset[i]
        rois, levels = item["rois"].to(device), item["levels"].to(device)
        logits, patient = net(rois, levels)
        flipped, flipped_patient = net(mirrored(rois), levels)
        out.append({"levels": item["levels"].numpy(), "level_logits": logits.float().cpu().numpy(),
                    "level_logits_flip": flipped.float().cpu().numpy(),
                    "targets": item["targets"].numpy(), "patient_logit": float(patient),
                    "patient_logit_flip": float(flipped_patient), "patient": int(item["patient"])})
    net.train(was)
    return out


def calibrate(predictions: list[dict[str, np.ndarray]], source: str) -> Calibration:
    """Temperatures, operating points and the readout (mirror, patient source) from validation logits.

    Args:
        predictions: from :func:`predict_logits` on the validation split.
        source: what the split was (recorded in the weights).
    """
    ly = np.array([y for p in predictions for y in p["targets"] if y >= 0])
    py = np.array([p["patient"] for p in predictions])
    return choose_readout(predictions, {"source": source, "cases": len(predictions), "levels": int(len(ly)),
                                        "fractured_levels": int(ly.sum()), "fractured_patients": int(py.sum())})


def train_classifier(cfg: ClsTrainConfig, segmenter_factory: SegmenterFactory, resume: str | None = None,
                     name: str = "spine-cls", version: str = "dev", trained_on: str = "synthetic phantoms"
                     ) -> dict[str, Any]:
    """Train, then (rank 0) calibrate on the validation split and write ``out/model.pt``.

    Args:
        cfg: the configuration.
        segmenter_factory: builds a segmenter from a model name (called only for uncached cases).
        resume: a ``cls`` checkpoint to continue from.
        name, version, trained_on: recorded in ``model.pt``.

    Returns:
        The loop summary, plus ``model`` (path), ``sha256`` and ``calibration``.
    """
    with distributed_run(cfg.device) as info:
        torch.manual_seed(cfg.loop.seed)
        net = build_classifier(cfg) if not resume else new_classifier(cfg)
        train_set = ClassificationDataset(case_cache(cfg.data, cfg.phantom_sets(), cfg, segmenter_factory),
                                          augment=True, balanced=cfg.balanced, seed=cfg.loop.seed,
                                          mask_source=cfg.mask_source, ablation=cfg.ablation,
                                          region_targets=cfg.region_weight > 0, coarse_scans=cfg.coarse_scans,
                                          fov_cuts=cfg.fov_cuts, mask_shifts=cfg.mask_shifts,
                                          bone_density=cfg.bone_density, neighbour_masks=cfg.neighbour_masks,
                                          mask_surfaces=cfg.mask_surfaces)
        if all((s.fractured < 0).all() for s in train_set.samples):
            raise InputError(cfg.data or "phantoms", "has no per-level fracture labels (truth.json 'fractured' "
                                                     "or train.csv C1..C7) to train on")
        if train_set.targets.min() == train_set.targets.max():
            log.warning("all training patients are %s: the classifier cannot learn to tell them apart",
                        "fractured" if train_set.targets[0] else "intact")

        def step(model: torch.nn.Module, batch: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
            logits, patient, region = model(batch["rois"][0], batch["levels"][0], with_region=True)
            loss = {"rsna": rsna_weighted_bce(logits, batch["targets"][0], patient, batch["patient"][0])}
            total = loss["rsna"]
            if region is not None:
                if bool(batch["has_region"][0]):
                    loss["region"] = fracture_region_bce(region, batch["region"][0])
                    total = total + cfg.region_weight * loss["region"]
                else:  # no mask for this case: the head still takes part, so DDP sees every parameter used
                    total = total + 0.0 * region.sum()
            return {"total": total, **loss}

        summary = train_loop(kind="cls", model=net, dataset=train_set, step_fn=step, options=cfg.loop,
                             out_dir=cfg.out, config=cfg.to_dict(), dist_info=info, resume=resume)
        if info.is_main:
            net.load_state_dict(load_checkpoint(summary["checkpoint"], "cls")["model"])
            val = ClassificationDataset(case_cache(cfg.val_data, cfg.val_phantom_sets(), cfg, segmenter_factory),
                                        augment=False, balanced=False, mask_source=cfg.mask_source,
                                        ablation=cfg.ablation)
            source = cfg.val_data or f"phantoms seeds {cfg.val_phantom_seeds[0]}.." \
                                     f"{cfg.val_phantom_seeds[0] + cfg.val_phantom_seeds[1] - 1}" \
                                     + (f" {cfg.phantom_config}" if cfg.phantom_config else "")
            calibration = calibrate(predict_logits(net.to(info.device), val, info.device), source)
            model_path = Path(cfg.out) / "model.pt"
            digest = save_classifier(model_path, net.cpu(), inputs={"windows": cfg.windows,
                                     "fracture_input": cfg.fracture_input, "mask_source": cfg.mask_source},
                                     calibration=calibration, name=name, version=version, trained_on=trained_on,
                                     extra_meta={"steps": summary["steps"], "seed": cfg.loop.seed,
                                                 "segmentation": cfg.segmentation, "init": cfg.init,
                                                 "finetune": cfg.finetune} | trained_bone_meta(cfg))
            summary |= {"model": str(model_path), "sha256": digest,
                        "calibration": {"level_temperature": round(calibration.level_temperature, 4),
                                        "patient_temperature": round(calibration.patient_temperature, 4),
                                        "thresholds": calibration.thresholds,
                                        "flip_average": calibration.flip_average,
                                        "patient_source": calibration.patient_source}}
        return summary


__all__ = ["ClsTrainConfig", "INITS", "build_classifier", "trained_bone_meta", "new_classifier", "calibrate", "case_cache", "predict_logits",
           "train_classifier"]
