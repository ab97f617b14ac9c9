"""`train-cls`: a thin wrapper over SpineFractureLib.train.classification."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .train_commands import _OPTS, _report


def register(app: typer.Typer) -> None:
    """Add the classifier training command to ``app``."""
    app.command("train-cls")(train_cls)


def train_cls(
    config: Optional[Path] = _OPTS["config"], out: Optional[Path] = _OPTS["out"],
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled dataset: case folders or RSNA 2022 (train.csv)."),
    phantom_seeds: Optional[tuple[int, int]] = _OPTS["phantom_seeds"],
    val_data: Optional[Path] = typer.Option(None, "--val-data", help="Labelled folder for calibration."),
    val_phantom_seeds: Optional[tuple[int, int]] = typer.Option(
        None, "--val-phantom-seeds", help="FIRST COUNT: validation phantoms (default 810000 48)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Folder caching each case's segmentation."),
    steps: Optional[int] = _OPTS["steps"], lr: Optional[float] = _OPTS["lr"], seed: Optional[int] = _OPTS["seed"],
    device: Optional[str] = _OPTS["device"], resume: Optional[Path] = _OPTS["resume"],
    log_every: Optional[int] = _OPTS["log_every"], checkpoint_every: Optional[int] = _OPTS["checkpoint_every"],
    segmentation: Optional[str] = typer.Option(None, "--segmentation", help="Segmentation model giving the masks."),
    mask_source: Optional[str] = typer.Option(None, "--mask-source", help="predicted (default) or given."),
    init: Optional[str] = typer.Option(
        None, "--init", help="segmentation (default: its MAE-pretrained encoder), none, or an mae/seg checkpoint."),
    finetune: Optional[str] = typer.Option(
        None, "--finetune", help="Start from these classifier weights (default, or a train-cls model.pt)."),
    no_level_embedding: bool = typer.Option(False, "--no-level-embedding", help="Ablation."),
    context: Optional[str] = typer.Option(None, "--context", help="gru (default) or none (ablation)."),
    windows: Optional[int] = typer.Option(None, "--windows", help="3 bone windows (default) or 1 (ablation)."),
    no_fracture_input: bool = typer.Option(False, "--no-fracture-input", help="Ablation."),
    region_weight: Optional[float] = typer.Option(
        None, "--region-weight", help="Weight of the dense fracture-region loss (default 1; 0: none, ablation)."),
    pool: Optional[str] = typer.Option(None, "--pool", help="mean (default) or mean_max pooling per level."),
    region_evidence: bool = typer.Option(
        False, "--region-evidence", help="Add the region head's largest logit in each level to its logit."),
    name: str = typer.Option("spine-cls", "--name", help="Model name written into model.pt."),
    version: str = typer.Option("dev", "--version", help="Model version written into model.pt."),
) -> None:
    """Train the vertebra fracture classifier, calibrate it, write OUT/model.pt (runs under torchrun).

    Phantom options (e.g. real-shape vertebrae, for training and validation) go in the --config file:
    "phantom_config": {"anatomy": "mesh"}, "extra_phantoms": [{"seeds": [2000, 240], "config": {}}].
    """
    from ..pipeline.segment import Segmenter
    from ..train.classification import ClsTrainConfig, train_classifier

    flags = {"out": str(out) if out else None, "data": str(data) if data else None,
             "phantom_seeds": tuple(phantom_seeds) if phantom_seeds else None,
             "val_data": str(val_data) if val_data else None,
             "val_phantom_seeds": tuple(val_phantom_seeds) if val_phantom_seeds else None,
             "cache": str(cache) if cache else None, "steps": steps, "lr": lr, "seed": seed, "device": device,
             "log_every": log_every, "checkpoint_every": checkpoint_every, "segmentation": segmentation,
             "mask_source": mask_source, "init": init, "finetune": finetune, "level_embedding": False if no_level_embedding else None,
             "context": context, "windows": windows, "fracture_input": False if no_fracture_input else None,
             "region_weight": region_weight, "pool": pool, "region_evidence": True if region_evidence else None}
    try:
        cfg = ClsTrainConfig.from_file(config, **flags) if config else ClsTrainConfig.from_dict({}, **flags)
    except ValueError as err:
        raise InputError(config or "command line", str(err)) from err
    summary = train_classifier(cfg, lambda m: Segmenter(m, cfg.device), resume=str(resume) if resume else None,
                               name=name, version=version)
    _report(summary)
