"""Segmentation losses: MONAI Dice+CE, the fracture-region term and the geometry-consistency term."""

from __future__ import annotations

import itertools

import torch
from monai.losses import DiceCELoss
from torch import nn

from ..models.unet import N_CLASSES

#: Minimum head-to-feet distance (voxels = mm at 1 mm) between the soft centroids of adjacent levels.
DEFAULT_ORDER_MARGIN = 5.0
#: Ground-truth voxels a level needs to count as present in a sample.
MIN_PRESENT_VOXELS = 50


class GeometryConsistencyLoss(nn.Module):
    """Anatomical coherence of C1..C7 probabilities.

    Two terms, both zero on a correct one-hot segmentation:

    * order: soft centroids of present levels must go down the column, C1 highest, each at least
      ``margin`` voxels above the next (array axis z points to the head, as in an LPS crop);
    * contact: levels two or more apart must not touch (probability of one next to the other).

    Args:
        margin: the minimum centroid gap in voxels (> 0).
        contact_weight: weight of the contact term (>= 0).

    Raises:
        ValueError: margin <= 0 or negative weight.
    """

    def __init__(self, margin: float = DEFAULT_ORDER_MARGIN, contact_weight: float = 1.0) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        if contact_weight < 0:
            raise ValueError(f"contact_weight must be >= 0, got {contact_weight}")
        self.margin = float(margin)
        self.contact_weight = float(contact_weight)
        self.pairs = [(a, b) for a, b in itertools.combinations(range(1, N_CLASSES), 2) if b - a >= 2]

    def forward(self, probs: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            probs: softmax probabilities (batch, 8, z, y, x); channel 0 background, 1..7 C1..C7.
            present: bool (batch, 7): which levels the sample holds (from the ground truth).

        Returns:
            Scalar: mean order violation (in margins) + contact_weight × mean contact fraction.
        """
        z = torch.arange(probs.shape[2], device=probs.device, dtype=probs.dtype).view(1, 1, -1, 1, 1)
        levels = probs[:, 1:N_CLASSES]
        mass = levels.sum(dim=(2, 3, 4)).clamp_min(1e-3)
        centroid = (levels * z).sum(dim=(2, 3, 4)) / mass  # (batch, 7)
        both = present[:, :-1] & present[:, 1:]
        gap = centroid[:, :-1] - centroid[:, 1:]  # C_l above C_(l+1): positive
        violation = torch.relu(self.margin - gap) / self.margin
        order = (violation * both).sum() / both.sum().clamp_min(1)

        grown = nn.functional.max_pool3d(probs, kernel_size=3, stride=1, padding=1)
        contact = probs.new_zeros(())
        for a, b in self.pairs:
            touch = (probs[:, a] * grown[:, b]).sum(dim=(1, 2, 3)) / mass[:, a - 1]
            contact = contact + touch.mean()
        return order + self.contact_weight * contact / len(self.pairs)


class SegmentationLoss(nn.Module):
    """Dice + cross-entropy on the levels, BCE on the fracture region, and the geometry term.

    Args:
        geometry_weight: weight of :class:`GeometryConsistencyLoss` (0 switches it off).
        fracture_weight: weight of the fracture-region BCE (used where a sample has a mask).
        margin: order margin of the geometry term (voxels).
        n_classes: softmax classes of the network (8 = levels, where the geometry term applies;
            2 = vertebra against background, where it does not).
    """

    def __init__(self, geometry_weight: float = 0.5, fracture_weight: float = 0.5,
                 margin: float = DEFAULT_ORDER_MARGIN, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        if geometry_weight < 0 or fracture_weight < 0:
            raise ValueError("loss weights must be >= 0")
        self.n_classes = int(n_classes)
        # Dice over C1..C7 only: with the background in it, "all background" is a deep plateau
        # (seen in the first CPU run: 400 steps predicting nothing); CE still covers all classes.
        self.dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)
        self.geometry = GeometryConsistencyLoss(margin)
        self.geometry_weight = geometry_weight
        self.fracture_weight = fracture_weight
        self.bce = nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(5.0))

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, fracture: torch.Tensor | None = None,
                has_fracture: torch.Tensor | None = None,
                geometry_weight: float | None = None) -> dict[str, torch.Tensor]:
        """Compute the loss terms.

        Args:
            logits: network output (batch, n_classes [+1 fracture], z, y, x).
            labels: int labels (batch, 1, z, y, x) in ``[0, n_classes)``.
            fracture: fracture-region mask (batch, 1, z, y, x) or None.
            has_fracture: bool (batch,): which samples have a fracture mask at all.
            geometry_weight: this step's weight of the geometry term (None: the constructor's;
                a schedule passes 0 while the term is not yet on).

        Returns:
            Dict with ``total`` and each term (``dice_ce``, ``geometry``, ``fracture``).
        """
        logits = logits.float()
        seg = logits[:, :self.n_classes]
        terms = {"dice_ce": self.dice_ce(seg, labels)}
        geometry_weight = self.geometry_weight if geometry_weight is None else float(geometry_weight)
        if geometry_weight > 0 and self.n_classes == N_CLASSES:
            present = torch.stack([(labels == v).sum(dim=(1, 2, 3, 4)) >= MIN_PRESENT_VOXELS
                                   for v in range(1, N_CLASSES)], dim=1)
            terms["geometry"] = self.geometry(torch.softmax(seg, dim=1), present)
        else:
            terms["geometry"] = seg.new_zeros(())
        if fracture is not None and logits.shape[1] > self.n_classes and self.fracture_weight > 0:
            per_sample = self.bce.to(logits.device)(logits[:, self.n_classes:self.n_classes + 1],
                                                    fracture.float()).mean(dim=(1, 2, 3, 4))
            weight = has_fracture.float() if has_fracture is not None else torch.ones_like(per_sample)
            terms["fracture"] = (per_sample * weight).sum() / weight.sum().clamp_min(1.0)
        else:
            terms["fracture"] = seg.new_zeros(())
        terms["total"] = (terms["dice_ce"] + geometry_weight * terms["geometry"]
                          + self.fracture_weight * terms["fracture"])
        return terms


__all__ = ["GeometryConsistencyLoss", "SegmentationLoss"]
