"""`train-loc`: a thin wrapper over SpineFractureLib.train.localizer."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .train_commands import _OPTS, _report


def register(app: typer.Typer) -> None:
    """Add the localizer training command to ``app``."""
    app.command("train-loc")(train_loc)


def train_loc(
    config: Optional[Path] = _OPTS["config"], out: Optional[Path] = _OPTS["out"],
    phantom_seeds: Optional[tuple[int, int]] = _OPTS["phantom_seeds"],
    cache: Optional[Path] = typer.Option(None, "--cache", help="Folder caching the prepared 4 mm cases."),
    patch: Optional[tuple[int, int, int]] = typer.Option(None, "--patch", help="Training patch Z Y X (4 mm voxels)."),
    steps: Optional[int] = _OPTS["steps"], lr: Optional[float] = _OPTS["lr"], seed: Optional[int] = _OPTS["seed"],
    device: Optional[str] = _OPTS["device"], resume: Optional[Path] = _OPTS["resume"],
    log_every: Optional[int] = _OPTS["log_every"], checkpoint_every: Optional[int] = _OPTS["checkpoint_every"],
    name: str = typer.Option("spine-loc", "--name", help="Model name written into model.pt."),
    version: str = typer.Option("dev", "--version", help="Model version written into model.pt."),
) -> None:
    """Train the localizer (cervical spine or none, in any field of view) on phantoms; writes OUT/model.pt."""
    from ..train.localizer import LocTrainConfig, train_localizer

    flags = {"out": str(out) if out else None, "phantom_seeds": tuple(phantom_seeds) if phantom_seeds else None,
             "cache": str(cache) if cache else None, "patch_zyx": tuple(patch) if patch else None, "steps": steps,
             "lr": lr, "seed": seed, "device": device, "log_every": log_every, "checkpoint_every": checkpoint_every}
    try:
        cfg = LocTrainConfig.from_file(config, **flags) if config else LocTrainConfig.from_dict({}, **flags)
    except ValueError as err:
        raise InputError(config or "command line", str(err)) from err
    _report(train_localizer(cfg, resume=str(resume) if resume else None, name=name, version=version))
