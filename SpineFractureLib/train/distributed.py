"""Process-group set-up so that every training command runs unchanged under ``torchrun``."""

from __future__ import annotations

import logging
import os
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


__all__ = ["DistInfo", "average", "cleanup_distributed", "setup_distributed"]
