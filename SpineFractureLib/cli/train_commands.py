"""`pretrain`, `train-seg` and `evaluate`: thin wrappers over SpineFractureLib.train and .evaluation."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .data_commands import ANATOMY_HELP

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the training commands to ``app``."""
    app.command("pretrain")(pretrain)
    app.command("train-seg")(train_seg)
    app.command("export-seg")(export_seg)
    app.command("evaluate")(evaluate)


def _config(config: Optional[Path], **flags):
    from ..train.segmentation import TrainConfig

    try:
        if config is not None:
            return TrainConfig.from_file(config, **flags)
        return TrainConfig.from_dict({}, **flags)
    except ValueError as err:
        raise InputError(config or "command line", str(err)) from err


_OPTS = {
    "config": typer.Option(None, "--config", help="JSON config (see TrainConfig); flags override it."),
    "out": typer.Option(None, "--out", help="Output folder for checkpoints."),
    "data": typer.Option(None, "--data", help="Labelled dataset folder (case folders, RSNA 2022, VerSe)."),
    "phantom_seeds": typer.Option(None, "--phantom-seeds", help="FIRST COUNT: phantom seeds (without --data)."),
    "cache": typer.Option(None, "--cache", help="Folder caching prepared 1 mm crops."),
    "patch": typer.Option(None, "--patch", help="Training crop Z Y X in voxels (1 mm)."),
    "steps": typer.Option(None, "--steps", help="Optimisation steps in all."),
    "lr": typer.Option(None, "--lr", help="Peak learning rate."),
    "seed": typer.Option(None, "--seed", help="Seed of initialisation, data order and augmentation."),
    "device": typer.Option(None, "--device", help="auto, cpu, cuda or mps."),
    "resume": typer.Option(None, "--resume", help="Checkpoint to continue from."),
    "log_every": typer.Option(None, "--log-every"),
    "checkpoint_every": typer.Option(None, "--checkpoint-every"),
}


def _flags(out, data, phantom_seeds, cache, patch, steps, lr, seed, device, log_every, checkpoint_every):
    return {"out": str(out) if out else None, "data": str(data) if data else None,
            "phantom_seeds": tuple(phantom_seeds) if phantom_seeds else None, "cache": str(cache) if cache else None,
            "patch_zyx": tuple(patch) if patch else None, "steps": steps, "lr": lr, "seed": seed, "device": device,
            "log_every": log_every, "checkpoint_every": checkpoint_every}


def _report(summary: dict) -> None:
    typer.echo(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()}))


def pretrain(
    config: Optional[Path] = _OPTS["config"], out: Optional[Path] = _OPTS["out"], data: Optional[Path] = _OPTS["data"],
    phantom_seeds: Optional[tuple[int, int]] = _OPTS["phantom_seeds"], cache: Optional[Path] = _OPTS["cache"],
    patch: Optional[tuple[int, int, int]] = _OPTS["patch"], steps: Optional[int] = _OPTS["steps"],
    lr: Optional[float] = _OPTS["lr"], seed: Optional[int] = _OPTS["seed"], device: Optional[str] = _OPTS["device"],
    resume: Optional[Path] = _OPTS["resume"], log_every: Optional[int] = _OPTS["log_every"],
    checkpoint_every: Optional[int] = _OPTS["checkpoint_every"],
    mask_ratio: Optional[float] = typer.Option(None, "--mask-ratio", help="Fraction of patches hidden (0.75)."),
    mae_patch: Optional[int] = typer.Option(None, "--mae-patch", help="Masked patch edge in voxels (16)."),
) -> None:
    """MAE pretraining of the shared encoder on unlabelled CT crops (runs under torchrun).

    --data is any folder of CT volumes (NIfTI/NRRD/MHA files or DICOM folders); labels are not read.
    """
    from ..train.segmentation import pretrain_mae

    cfg = _config(config, **_flags(out, data, phantom_seeds, cache, patch, steps, lr, seed, device, log_every,
                                   checkpoint_every), mask_ratio=mask_ratio, mae_patch=mae_patch)
    _report(pretrain_mae(cfg, resume=str(resume) if resume else None))


def train_seg(
    config: Optional[Path] = _OPTS["config"], out: Optional[Path] = _OPTS["out"], data: Optional[Path] = _OPTS["data"],
    phantom_seeds: Optional[tuple[int, int]] = _OPTS["phantom_seeds"], cache: Optional[Path] = _OPTS["cache"],
    patch: Optional[tuple[int, int, int]] = _OPTS["patch"], steps: Optional[int] = _OPTS["steps"],
    lr: Optional[float] = _OPTS["lr"], seed: Optional[int] = _OPTS["seed"], device: Optional[str] = _OPTS["device"],
    resume: Optional[Path] = _OPTS["resume"], log_every: Optional[int] = _OPTS["log_every"],
    checkpoint_every: Optional[int] = _OPTS["checkpoint_every"],
    mae_checkpoint: Optional[Path] = typer.Option(None, "--mae-checkpoint", help="Initialise the encoder from it."),
    no_priors: bool = typer.Option(False, "--no-priors", help="Zero the bone and edge prior channels (ablation)."),
    geometry_weight: Optional[float] = typer.Option(None, "--geometry-weight", help="0 switches the term off."),
    geometry_start: Optional[float] = typer.Option(
        None, "--geometry-start",
        help="Fraction of the steps before the geometry term ramps in (default 0.5; 0: at once)."),
    stage: Optional[str] = typer.Option(None, "--stage", help="levels (2 mm, C1-C7) or vertebra (1 mm, default)."),
    finetune: Optional[str] = typer.Option(
        None, "--finetune", help="Start this stage from segmentation weights (default, or an export-seg file)."),
) -> None:
    """Train one stage of the C1-C7 segmentation (runs under torchrun).

    Phantom options (e.g. real-shape vertebrae, several phantom sets mixed) go in the --config file:
    "phantom_config": {"anatomy": "mesh"}, "extra_phantoms": [{"seeds": [1000, 112], "config": {}}].
    """
    from ..train.segmentation import train_segmentation

    cfg = _config(config, **_flags(out, data, phantom_seeds, cache, patch, steps, lr, seed, device, log_every,
                                   checkpoint_every), mae_checkpoint=str(mae_checkpoint) if mae_checkpoint else None,
                  use_priors=False if no_priors else None, geometry_weight=geometry_weight,
                  geometry_start=geometry_start, stage=stage, finetune=finetune)
    _report(train_segmentation(cfg, resume=str(resume) if resume else None))


def export_seg(
    levels: Path = typer.Option(..., "--levels", help="Checkpoint of the levels stage (train-seg --stage levels)."),
    vertebra: Path = typer.Option(..., "--vertebra", help="Checkpoint of the vertebra stage."),
    out: Path = typer.Option(..., "--out", help="Weights file to write (float16)."),
    name: str = typer.Option(..., "--name"),
    version: str = typer.Option(..., "--version"),
    trained_on: str = typer.Option("synthetic phantoms", "--trained-on"),
) -> None:
    """Pack the two stage checkpoints into one inference weights file; prints its sha256."""
    from ..models.registry import export_weights

    digest = export_weights(levels, vertebra, out, name=name, version=version, trained_on=trained_on)
    typer.echo(json.dumps({"file": str(out), "sha256": digest, "bytes": out.stat().st_size}))


def evaluate(
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled dataset folder."),
    phantoms: Optional[int] = typer.Option(None, "--phantoms", help="Evaluate on N fresh phantoms."),
    seed: int = typer.Option(900000, "--seed", help="First phantom seed (never a training seed)."),
    task: str = typer.Option("segmentation", "--task", help="segmentation or classification."),
    model: str = typer.Option("default", "--model",
                              help="Registered model name, default, or a weights file (export-seg / train-cls)."),
    segmentation: str = typer.Option("default", "--segmentation",
                                     help="Classification: the segmentation model that gives the masks."),
    difficulty: Optional[float] = typer.Option(None, "--difficulty", help="Phantom fracture difficulty 0..1."),
    anatomy: str = typer.Option("procedural", "--anatomy", help=ANATOMY_HELP),
    fov: str = typer.Option("neck", "--fov", help="Phantom field of view: neck | head-neck | chest | abdomen | "
                                                  "head | whole-body | head-upper-neck."),
    contrast: str = typer.Option("none", "--contrast", help="Phantom contrast phase: none | arterial | venous."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Classification: folder caching each case's masks."),
    device: str = typer.Option("auto", "--device"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the metrics JSON to this file."),
    submission: Optional[Path] = typer.Option(None, "--submission", help="Classification: RSNA 2022 submission CSV."),
    reliability: Optional[Path] = typer.Option(None, "--reliability", help="Classification: reliability diagram PNG."),
    no_gradcam: bool = typer.Option(False, "--no-gradcam",
                                    help="Classification: skip Grad-CAM (faster; no pointing rate)."),
) -> None:
    """Segmentation metrics (Dice, identification, centroid error) or classification metrics (AUC,
    sensitivity/specificity at both operating points, RSNA log loss, ECE, Grad-CAM pointing rate)."""
    if (data is None) == (phantoms is None):
        raise InputError("command line", "give exactly one of --data DIR or --phantoms N")
    if phantoms is not None and phantoms < 1:
        raise InputError("--phantoms", "must be at least 1")
    if task not in ("segmentation", "classification"):
        raise InputError("--task", f"must be segmentation or classification, got {task!r}")
    if difficulty is not None and not 0.0 <= difficulty <= 1.0:
        raise InputError("--difficulty", f"must be in [0, 1], got {difficulty}")
    from ..data.phantom import PhantomConfig

    phantom_config = ({"anatomy": anatomy} | ({"difficulty": difficulty} if difficulty is not None else {})
                      | ({"fov": fov} if fov != "neck" else {}) | ({"contrast": contrast} if contrast != "none" else {}))
    try:  # the generator's own check of the options (config_tag leaves the default anatomy out of keys)
        PhantomConfig(**phantom_config)
    except ValueError as err:
        raise InputError("--anatomy/--fov/--contrast", str(err)) from err
    if task == "segmentation":
        from ..pipeline.evaluate import evaluate_segmentation, format_metrics

        metrics = evaluate_segmentation(model=model, data=data, phantoms=phantoms, seed=seed, device=device,
                                        phantom_config=phantom_config)
        text_summary = format_metrics(metrics)
    else:
        from ..pipeline.evaluate_cls import evaluate_classification, format_classification, write_rsna_submission

        metrics = evaluate_classification(model=model, segmentation=segmentation, data=data, phantoms=phantoms,
                                          seed=seed, device=device, phantom_config=phantom_config, cache=cache,
                                          gradcam=not no_gradcam)
        text_summary = format_classification(metrics)
        if submission is not None:
            write_rsna_submission(metrics["per_case"], submission)
        if reliability is not None:
            from ..report.reliability import save_reliability_diagram

            save_reliability_diagram(metrics, reliability)
    text = json.dumps(metrics, indent=2)
    if out is not None:
        from ..io.staging import staged_file

        with staged_file(out) as tmp:
            tmp.write_text(text)
    if as_json:
        sys.stdout.write(text + "\n")
    else:
        typer.echo(text_summary)
