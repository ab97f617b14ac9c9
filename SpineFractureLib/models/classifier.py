"""The vertebra-level fracture classifier: ROI encoder, level embedding, context across levels.

One forward call sees one patient: the ROIs of its present levels, head to feet. Each ROI goes
through the shared 3D encoder (the first stages of the segmentation encoder, so that MAE and
segmentation pretraining carry over); its last feature map is pooled inside the level's mask and
over the whole box; a learned level embedding (C1..C7) is added; a bidirectional GRU runs across
the present levels (fractures cluster in adjacent vertebrae, and the RSNA 2022 winners' sequence
models beat isolated crops); one logit per level and one for the patient come out. Absent levels
are simply not in the sequence: nothing is invented for them.

A fracture-region head (a 1×1×1 convolution on the last encoder map, one logit per 8 mm cell) is
trained where the fracture region is known (phantoms, annotated cases). One label per vertebra is
a weak signal for a 3D CNN to find a crack in; the dense target tells the encoder where the
evidence lies. It is a training aid: inference reads the level and patient logits. (Measured so
far: at 400 CPU steps it teaches the head where fractures lie, cell AUC 0.90 on validation
phantoms, but does not yet raise the level AUC; see the classification issue's notes.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..constants import N_LEVELS
from ..preprocess.roi import N_ROI_CHANNELS
from .encoder import DEFAULT_CHANNELS, SpineEncoder

#: The classifier keeps the first four stages of the segmentation encoder: stride 8, so a
#: 48 × 64 × 64 mm ROI ends as a 6 × 8 × 8 map of 8 mm cells.
CLS_CHANNELS: tuple[int, ...] = DEFAULT_CHANNELS[:4]
CONTEXTS = ("gru", "none")
#: ``mean``: the map averaged inside the level mask and over the box; ``mean_max`` adds the
#: maximum over the cells inside the mask (a small finding is not averaged away).
POOLS = ("mean", "mean_max")


class FractureClassifier(nn.Module):
    """Per-level and patient fracture logits from the ROIs of one patient's present levels.

    Args:
        in_channels: ROI channels (see :mod:`SpineFractureLib.preprocess.roi`).
        channels: encoder channels per stage.
        dim: feature size per level.
        level_embedding: add a learned C1..C7 embedding (False: ablation).
        context: ``gru`` (bidirectional GRU across the present levels) or ``none`` (ablation).
        region_head: add the fracture-region head (dense auxiliary supervision in training).
        pool: ``mean`` or ``mean_max`` (see :data:`POOLS`).
        embedding_std: standard deviation of the level embedding's initial values (PyTorch's
            default is 1, as large as the projected features it is added to).
        region_evidence: add the fracture-region head's largest logit inside the level's mask
            to the level logit (and the largest over levels to the patient logit), each with a
            learned weight: multiple-instance pooling of the dense head, so that what the head
            learns to find reaches the decision directly. Needs ``region_head``.

    Raises:
        ValueError: an unknown context or a non-positive size, or region evidence without the head.
    """

    def __init__(self, in_channels: int = N_ROI_CHANNELS, channels: Sequence[int] = CLS_CHANNELS, dim: int = 64,
                 level_embedding: bool = True, context: str = "gru", region_head: bool = True,
                 pool: str = "mean", embedding_std: float = 1.0, region_evidence: bool = False) -> None:
        super().__init__()
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be a positive even number, got {dim}")
        if region_evidence and not region_head:
            raise ValueError("region_evidence reads the fracture-region head: it needs region_head=True")
        self.encoder = SpineEncoder(in_channels, channels)
        feat = self.encoder.channels[-1]
        self.pool = pool
        self.project = nn.Sequential(nn.Linear((3 if pool == "mean_max" else 2) * feat, dim), nn.LayerNorm(dim),
                                     nn.GELU())
        self.level_embedding = nn.Embedding(N_LEVELS, dim) if level_embedding else None
        if self.level_embedding is not None and embedding_std != 1.0:  # 1.0: keep the default draw
            nn.init.normal_(self.level_embedding.weight, std=embedding_std)
        self.context = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True) if context == "gru" else None
        self.level_head = nn.Linear(dim, 1)
        self.patient_head = nn.Linear(2 * dim, 1)
        self.region_head = nn.Conv3d(feat, 1, kernel_size=1) if region_head else None
        self.dim = dim
        # One weight for the level logit, one for the patient logit.
        self.evidence_weight = nn.Parameter(torch.ones(2)) if region_evidence else None
        self.arch = {"in_channels": in_channels, "channels": list(self.encoder.channels), "dim": dim,
                     "level_embedding": bool(level_embedding), "context": context,
                     "region_head": bool(region_head), "pool": pool, "region_evidence": bool(region_evidence)}

    def encode(self, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-ROI features and the last encoder map.

        Args:
            rois: (P, in_channels, z, y, x); channel 5 is the level's own mask.

        Returns:
            Features (P, dim), or (P, dim + 1) with region evidence (its last column): the last
            map pooled inside the level mask and over the box; and that map (P, C, z/8, y/8, x/8).
        """
        fmap = self.encoder(rois)[-1]
        share = F.adaptive_avg_pool3d(rois[:, 5:6], fmap.shape[2:])  # mask share of each cell
        inside = (fmap * share).sum(dim=(2, 3, 4)) / share.sum(dim=(2, 3, 4)).clamp_min(1e-3)
        whole = fmap.mean(dim=(2, 3, 4))
        parts = [inside, whole]
        # Cells holding at least a fifth of mask; a ROI whose mask covers less takes its densest cell.
        held = (share >= 0.2) | (share == share.flatten(1).amax(dim=1)[:, None, None, None, None])
        if self.pool == "mean_max":
            parts.append(fmap.masked_fill(~held, float("-inf")).amax(dim=(2, 3, 4)))
        feats = self.project(torch.cat(parts, dim=1))
        if self.evidence_weight is not None:
            region = self.region_head(fmap)
            evidence = region.masked_fill(~held, float("-inf")).amax(dim=(1, 2, 3, 4))
            feats = torch.cat([feats, evidence[:, None]], dim=1)
        return feats, fmap

    def features(self, rois: torch.Tensor) -> torch.Tensor:
        """Per-ROI features (P, dim [+ 1]) (see :meth:`encode`)."""
        return self.encode(rois)[0]

    def head(self, feats: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Level embedding, context and the two heads on per-level features.

        Args:
            feats: (P, dim [+ 1]) features of the present levels, head to feet (see :meth:`encode`).
            levels: (P,) level indices 0..6.

        Returns:
            Level logits (P,) and the patient logit (scalar tensor).
        """
        h = feats[:, :self.dim]
        if self.level_embedding is not None:
            h = h + self.level_embedding(levels)
        if self.context is not None:
            h = h + self.context(h[None])[0][0]
        level_logits = self.level_head(h)[:, 0]
        patient = self.patient_head(torch.cat([h.amax(dim=0), h.mean(dim=0)]))[0]
        if self.evidence_weight is not None:
            evidence = feats[:, self.dim]
            level_logits = level_logits + self.evidence_weight[0] * evidence
            patient = patient + self.evidence_weight[1] * evidence.amax()
        return level_logits, patient

    def forward(self, rois: torch.Tensor, levels: torch.Tensor, with_region: bool = False
                ) -> tuple[torch.Tensor, ...]:
        """Classify one patient.

        Args:
            rois: (P, in_channels, z, y, x) ROIs of the present levels, head to feet, P ≥ 1;
                sizes multiples of the encoder stride (8).
            levels: (P,) level indices 0..6 (C1..C7), increasing.
            with_region: also return the fracture-region logits (P, z/8, y/8, x/8), or None
                without the head (training: a wrapper such as DDP must see one forward call).

        Returns:
            Level logits (P,) and the patient logit (scalar) [, region logits].

        Raises:
            ValueError: no level, or ROIs and levels of different lengths.
        """
        if rois.shape[0] < 1 or rois.shape[0] != levels.shape[0]:
            raise ValueError(f"need one ROI per present level (at least one), got {rois.shape[0]} ROIs "
                             f"for {levels.shape[0]} levels")
        feats, fmap = self.encode(rois)
        level_logits, patient = self.head(feats, levels)
        if not with_region:
            return level_logits, patient
        region = self.region_head(fmap)[:, 0] if self.region_head is not None else None
        return level_logits, patient, region


def classifier_from_arch(arch: dict[str, Any]) -> FractureClassifier:
    """A fresh classifier from its ``arch`` dictionary (stored beside its weights)."""
    return FractureClassifier(int(arch["in_channels"]), tuple(arch["channels"]), int(arch["dim"]),
                              bool(arch["level_embedding"]), str(arch["context"]),
                              bool(arch.get("region_head", False)), str(arch.get("pool", "mean")),
                              region_evidence=bool(arch.get("region_evidence", False)))


__all__ = ["CLS_CHANNELS", "CONTEXTS", "POOLS", "FractureClassifier", "classifier_from_arch"]
