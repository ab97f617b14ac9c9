"""Training checkpoints: model, optimizer and step, written atomically, read with ``weights_only``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io.staging import staged_file

log = logging.getLogger(__name__)


def save_checkpoint(path: str | os.PathLike, *, kind: str, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, step: int, config: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint (temporary name, then rename: a crash never leaves half a file).

    Args:
        path: target ``.pt`` file.
        kind: ``mae`` or ``seg`` (checked when resuming or transferring).
        model: the network (unwrapped from DDP).
        optimizer: its optimizer, kept for resuming.
        step: optimisation steps done.
        config: the training configuration (plain JSON types).
        extra: more plain values (e.g. the last loss).

    Returns:
        The path written.
    """
    state = {"kind": kind, "model": model.state_dict(), "step": int(step), "config": config,
             "optimizer": optimizer.state_dict() if optimizer is not None else None, "extra": extra or {}}
    path = Path(path)
    with staged_file(path) as tmp:
        torch.save(state, tmp)
    log.info("checkpoint %s (step %d)", path, step)
    return path


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.pt`` file.
        kind: expected kind, or None for any.

    Raises:
        InputError: missing, unreadable or truncated file, or a checkpoint of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for damaged files
        raise InputError(path, f"is not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "model" not in state:
        raise InputError(path, "is not a SpineFracture checkpoint (no model state)")
    if kind is not None and state.get("kind") != kind:
        raise InputError(path, f"is a {state.get('kind')!r} checkpoint, expected {kind!r}")
    return state


__all__ = ["load_checkpoint", "save_checkpoint"]
