"""One training loop for every model: DDP, mixed precision, checkpoints, resume, seeds, logging."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..models.checkpoint import load_checkpoint, save_checkpoint
from .distributed import DistInfo, average

log = logging.getLogger(__name__)

#: step(model, batch, step index from 0) -> dict of scalar loss tensors with a ``total`` key.
StepFn = Callable[[torch.nn.Module, dict[str, torch.Tensor], int], dict[str, torch.Tensor]]


class EpochIndexSampler(Sampler):
    """Yields ``(epoch, index)`` pairs from a :class:`DistributedSampler`.

    A dataset that draws augmentation per epoch cannot learn the epoch from an attribute set in
    the parent: persistent DataLoader workers hold their own copy of the dataset, set once, and
    would repeat the first epoch's draws for the whole run. The epoch therefore travels with each
    index, and works the same with 0 or many workers.

    Args:
        sampler: the index sampler; :meth:`set_epoch` is passed on to it.
    """

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the next pass (also reshuffles the wrapped sampler)."""
        self.epoch = int(epoch)
        self.sampler.set_epoch(self.epoch)

    def __iter__(self):
        epoch = self.epoch
        return ((epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def split_key(key: int | tuple[int, int], default_epoch: int) -> tuple[int, int]:
    """``(epoch, index)`` from a dataset key: a plain index (direct use) or a pair from the loop."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return int(default_epoch), int(key)


@dataclass
class LoopOptions:
    """How long and how to train.

    Attributes:
        steps: optimisation steps in all (a resumed run continues up to this).
        lr: peak learning rate (AdamW), cosine decay to 5 % after a 5 % linear warm-up.
        weight_decay: AdamW weight decay.
        seed: seed of the model initialisation and data order.
        checkpoint_every: steps between checkpoints (and at the end).
        log_every: steps between log lines.
        amp: mixed precision (bfloat16 autocast) on CUDA; ignored on CPU.
        workers: DataLoader worker processes.
    """

    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    amp: bool = True
    workers: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("steps, lr, checkpoint_every and log_every must be positive")


def train_loop(*, kind: str, model: torch.nn.Module, dataset: Dataset, step_fn: StepFn, options: LoopOptions,
               out_dir: str | Path, config: dict[str, Any], dist_info: DistInfo,
               resume: str | Path | None = None) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` with ``step_fn``; rank 0 writes ``out_dir/last.pt``.

    Args:
        kind: checkpoint kind (``mae`` or ``seg``).
        model: the network, on CPU (moved to the device here).
        dataset: map-style dataset of dict batches (batch size 1 per process).
        step_fn: computes the loss terms of one batch (given the 0-based step, for schedules).
        options: steps, learning rate, seeds, checkpoints.
        out_dir: where checkpoints go.
        config: the full configuration, stored in every checkpoint.
        dist_info: from :func:`setup_distributed`.
        resume: a checkpoint to continue from (model, optimizer and step).

    Returns:
        Summary: ``steps``, ``first_loss`` and ``last_loss`` (means over the first and the last
        ``log_every`` steps, averaged over processes), ``seconds``, ``checkpoint``.
    """
    device = dist_info.device
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    start = 0
    if resume:
        state = load_checkpoint(resume, kind)
        model.load_state_dict(state["model"])
        if state.get("optimizer"):
            optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log.info("resumed from %s at step %d", resume, start)
    net = DistributedDataParallel(model) if dist_info.world_size > 1 else model
    sampler = DistributedSampler(dataset, dist_info.world_size, dist_info.rank, shuffle=True, seed=options.seed)
    # Epoch-aware datasets (an ``epoch`` attribute) take (epoch, index) keys; see EpochIndexSampler.
    sampler = EpochIndexSampler(sampler) if hasattr(dataset, "epoch") else sampler
    loader = DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=options.workers,
                        persistent_workers=options.workers > 0)
    use_amp = options.amp and device.type == "cuda"
    out_dir = Path(out_dir)
    last = out_dir / "last.pt"
    recent: list[float] = []
    first_loss = last_loss = math.nan
    t0 = time.perf_counter()
    step, epoch = start, start // max(1, len(loader))
    model.train()
    while step < options.steps:
        sampler.set_epoch(epoch)
        for batch in loader:
            if step >= options.steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = _lr(step, options)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                terms = step_fn(net, batch, step)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            step += 1
            recent.append(float(terms["total"].detach()))
            if step % options.log_every == 0 or step == options.steps:
                mean = average(sum(recent) / len(recent), dist_info)
                if math.isnan(first_loss):
                    first_loss = mean
                if dist_info.is_main:
                    parts = " ".join(f"{k}={float(v.detach()):.4f}" for k, v in terms.items())
                    log.info("%s step %d/%d loss %.4f (%s) %.1fs", kind, step, options.steps, mean, parts,
                             time.perf_counter() - t0)
                last_loss, recent = mean, []
            if dist_info.is_main and (step % options.checkpoint_every == 0 or step == options.steps):
                save_checkpoint(last, kind=kind, model=model, optimizer=optimizer, step=step, config=config,
                                extra={"loss": recent[-1] if recent else last_loss})
        epoch += 1
    return {"steps": step, "first_loss": first_loss, "last_loss": last_loss if step > start else math.nan,
            "seconds": time.perf_counter() - t0, "checkpoint": str(last)}


def _lr(step: int, o: LoopOptions) -> float:
    warm = max(1, o.steps // 20)
    if step < warm:
        return o.lr * (step + 1) / warm
    progress = (step - warm) / max(1, o.steps - warm)
    return o.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


__all__ = ["EpochIndexSampler", "LoopOptions", "StepFn", "split_key", "train_loop"]
