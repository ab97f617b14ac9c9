"""``train-loc``: train the localizer on phantoms of every field of view, write its weights.

Random 64³ patches (256 mm at 4 mm) of the prepared cases, half of them centred on a cervical
voxel where the case has one; left-right flips and HU scale/offset as augmentation; Dice (over the
eight foreground classes) plus cross-entropy. Runs on the shared loop (config file, seed, resume,
``torchrun``); rank 0 writes ``out/model.pt``, a weights file ``--localizer`` accepts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from monai.losses import DiceCELoss
from torch.utils.data import Dataset

from ..constants import HU_AIR, N_LEVELS
from ..data.localizer_cases import LocSample, load_localizer_samples
from ..models.checkpoint import load_checkpoint
from ..models.localizer import LOCALIZER_CHANNELS, new_localizer_network, save_localizer
from ..preprocess.localizer_input import localizer_channels
from .config import ConfigMixin
from .distributed import distributed_run
from .loop import LoopOptions, train_loop

log = logging.getLogger(__name__)


@dataclass
class LocTrainConfig(ConfigMixin):
    """A localizer training run (JSON file or CLI flags; stored in each checkpoint).

    Attributes:
        out: output folder (``last.pt`` checkpoint, ``model.pt`` weights).
        phantom_seeds: [first, count] of training phantoms (fields of view drawn per seed).
        cache: folder for prepared 4 mm cases.
        patch_zyx: training patch (voxels at 4 mm).
        channels: encoder channels per stage.
        cervical_share: share of patches centred on a cervical voxel (where a case has one).
        device: auto, cpu, cuda or mps.
        loop: steps, learning rate, seed, checkpoints, AMP, workers.
    """

    out: str = "runs/loc"
    phantom_seeds: tuple[int, int] = (3000000, 240)
    cache: str | None = None
    patch_zyx: tuple[int, int, int] = (64, 64, 64)
    channels: tuple[int, ...] = LOCALIZER_CHANNELS
    cervical_share: float = 0.5
    device: str = "auto"
    loop: LoopOptions = field(default_factory=lambda: LoopOptions(steps=1500, lr=2e-3, checkpoint_every=500))

    TUPLE_KEYS: ClassVar[tuple[str, ...]] = ("phantom_seeds", "patch_zyx", "channels")

    def validate(self) -> None:
        """Check the patch and the share (ValueError)."""
        if any(p % 8 or p < 16 for p in self.patch_zyx):
            raise ValueError(f"patch_zyx must be multiples of 8 of at least 16, got {self.patch_zyx}")
        if not 0.0 <= self.cervical_share <= 1.0:
            raise ValueError(f"cervical_share must be in [0, 1], got {self.cervical_share}")


class LocalizerDataset(Dataset):
    """Random patches of prepared cases; item ``i`` is drawn from case ``i`` with its own stream.

    Each call draws afresh (epoch and worker aware through the loop's seeding of ``torch``).
    """

    def __init__(self, samples: list[LocSample], patch_zyx: tuple[int, int, int], cervical_share: float,
                 seed: int = 0) -> None:
        self.samples, self.patch = samples, np.asarray(patch_zyx)
        self.share, self.seed = cervical_share, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, i, int(torch.randint(0, 2 ** 31 - 1, (1,)).item())])
        s = self.samples[i]
        hu, target = s.hu.astype(np.float32), s.target
        cervical = np.argwhere((target >= 1) & (target <= N_LEVELS))
        if len(cervical) and rng.random() < self.share:
            centre = cervical[rng.integers(len(cervical))] + rng.integers(-8, 9, 3)
        else:
            centre = np.array([rng.integers(0, n) for n in hu.shape])
        start = centre - self.patch // 2
        img = _cut(hu, start, self.patch, HU_AIR)
        lab = _cut(target, start, self.patch, 0)
        if rng.random() < 0.5:  # left-right flip (x axis); the classes are not sided
            img, lab = img[:, :, ::-1], lab[:, :, ::-1]
        img = img * rng.uniform(0.92, 1.08) + rng.uniform(-30, 30)
        return {"image": torch.from_numpy(localizer_channels(img)),
                "target": torch.from_numpy(np.ascontiguousarray(lab).astype(np.int64))}


def _cut(a: np.ndarray, start: np.ndarray, size: np.ndarray, fill: float) -> np.ndarray:
    """The box ``start .. start + size`` of ``a`` (z, y, x), ``fill`` outside."""
    out = np.full(tuple(size), fill, dtype=a.dtype)
    lo = np.maximum(start, 0)
    hi = np.minimum(start + size, a.shape)
    if np.all(hi > lo):
        dst = tuple(slice(int(l0 - s0), int(h0 - s0)) for l0, h0, s0 in zip(lo, hi, start))
        out[dst] = a[tuple(slice(int(l0), int(h0)) for l0, h0 in zip(lo, hi))]
    return out


def train_localizer(cfg: LocTrainConfig, resume: str | None = None, name: str = "spine-loc",
                    version: str = "dev", trained_on: str = "synthetic phantoms") -> dict[str, Any]:
    """Train the localizer; rank 0 then writes ``out/model.pt``.

    Returns:
        The loop summary, plus ``model`` (path) and ``sha256``.
    """
    with distributed_run(cfg.device) as info:
        torch.manual_seed(cfg.loop.seed)
        net = new_localizer_network(tuple(cfg.channels))
        first, count = cfg.phantom_seeds
        samples = load_localizer_samples(range(first, first + count), cfg.cache)
        dataset = LocalizerDataset(samples, tuple(cfg.patch_zyx), cfg.cervical_share, cfg.loop.seed)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)

        def step(model: torch.nn.Module, batch: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
            loss = loss_fn(model(batch["image"]), batch["target"][:, None])
            return {"total": loss, "dice_ce": loss}

        summary = train_loop(kind="loc", model=net, dataset=dataset, step_fn=step, options=cfg.loop,
                             out_dir=cfg.out, config=cfg.to_dict(), dist_info=info, resume=resume)
        if info.is_main:
            net.load_state_dict(load_checkpoint(summary["checkpoint"], "loc")["model"])
            path = Path(cfg.out) / "model.pt"
            digest = save_localizer(path, net.cpu(), name=name, version=version, trained_on=trained_on,
                                    extra_meta={"steps": summary["steps"], "seed": cfg.loop.seed,
                                                "phantom_seeds": list(cfg.phantom_seeds)})
            summary |= {"model": str(path), "sha256": digest}
        return summary


__all__ = ["LocTrainConfig", "LocalizerDataset", "train_localizer"]
