"""Process-group set-up so that every training command runs unchanged under ``torchrun``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import pick_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank among ``world_size`` processes, and its torch device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and writes checkpoints)."""
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Uses NCCL on CUDA and gloo on CPU. Without ``WORLD_SIZE`` > 1 it is a single process.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.

    Returns:
        This process's rank, the world size and its device (``cuda:LOCAL_RANK`` on GPUs).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if world <= 1:
        return DistInfo(0, 1, dev)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), dev)
    log.info("process %d of %d on %s", info.rank, info.world_size, dev)
    return info


def average(value: float, info: DistInfo) -> float:
    """Mean of a float over all processes (the value itself when single-process)."""
    if info.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def cleanup_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def distributed_run(device: str = "auto") -> Iterator[DistInfo]:
    """Join the ``torchrun`` process group for the body, and leave it together with the other ranks.

    On a normal exit every rank waits at a barrier before the group is destroyed: a rank that tore its
    gloo connections down while rank 0 was still writing the checkpoint (or calibrating) could abort
    rank 0 at teardown ("terminate called without an active exception"). On an exception there is no
    barrier (the other ranks may be inside a different collective); the group is destroyed anyway.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.

    Yields:
        This process's rank, the world size and its device.
    """
    info = setup_distributed(device)
    try:
        yield info
        if info.world_size > 1:
            dist.barrier()
    finally:
        cleanup_distributed()


__all__ = ["DistInfo", "average", "cleanup_distributed", "distributed_run", "setup_distributed"]
