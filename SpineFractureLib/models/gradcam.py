"""Grad-CAM of the fracture classifier, per level, with MONAI's class-activation-map classes.

Three methods (:data:`CAM_METHODS`): MONAI's ``GradCAM`` (channel weights = the spatial mean of
the gradient), ``GradCAMpp`` and HiResCAM (Draelos & Carin 2020: gradient times activation per
cell, summed over channels, so that each cell's share of the logit is kept instead of averaged
away). MONAI has no HiResCAM, and its ``GradCAMpp`` multiplies the score, shaped (P, 1), into a
5-D gradient, which fails for 3-D inputs with more than one ROI; both are written here as
``compute_map`` of MONAI's ``GradCAM``, reusing its hooks and upsampling contract.

MONAI's GradCAM treats the batch axis as independent samples; in the classifier the batch axis
is the patient's levels, which the GRU mixes. So that each level's map answers "what in *this*
ROI raised *this* level's logit", :class:`_OwnLevelLogits` computes level i's logit with every
other level's features detached: the gradient of the summed scores reaching ROI i is then exactly
the gradient of logit i (the context still shapes the value, not the attribution).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.visualize import GradCAM
from torch import nn

from ..preprocess.roi import paste_box_max
from .classifier import FractureClassifier


class HiResCAM(GradCAM):
    """ReLU(Σ_c ∂y/∂A_c ⊙ A_c): the gradient times the activation in every cell (Draelos & Carin 2020)."""

    def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
        _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
        return F.relu((grad[layer_idx] * acti[layer_idx]).sum(1, keepdim=True))


class GradCAMpp(GradCAM):
    """MONAI's Grad-CAM++ formula, with the score shaped to broadcast over (P, C, z, y, x)."""

    def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
        _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
        acti, grad = acti[layer_idx], grad[layer_idx]
        b, c = grad.shape[:2]
        ones = (1,) * (grad.dim() - 2)
        denom = 2 * grad.pow(2) + (acti * grad.pow(3)).flatten(2).sum(-1).view(b, c, *ones)
        alpha = grad.pow(2) / (torch.where(denom != 0.0, denom, torch.ones_like(denom)) + 1e-7)
        relu_grad = F.relu(self.nn_module.score.reshape(b, 1, *ones).exp() * grad)
        weights = (alpha * relu_grad).flatten(2).sum(-1).view(b, c, *ones)
        return F.relu((weights * acti).sum(1, keepdim=True))


#: Class-activation methods by name.
CAM_METHODS = {"gradcam": GradCAM, "gradcampp": GradCAMpp, "hirescam": HiResCAM}
#: The method and layer of the heat map, chosen on validation phantoms 810000-810047 as the highest
#: pointing rate of the nine (method, stage) pairs: MONAI's Grad-CAM on the first encoder stage (2 mm
#: cells) 0.76, against 0.28 on the last stage (8 mm cells), 0.72 for Grad-CAM++ on the second
#: (see the classification model card). The last stage's cells are as large as a vertebral body:
#: its map lights the vertebra, not the crack.
CAM_METHOD = "gradcam"
CAM_LAYER = "encoder.stages.0"
#: Voxels (mm on the 1 mm ROI) along each face of the ROI where the map is set to 0.
BORDER_VOXELS = 4


class _OwnLevelLogits(nn.Module):
    """(P, C, z, y, x) ROIs -> (P, 1) logits, level i's logit depending on ROI i only through features."""

    def __init__(self, classifier: FractureClassifier, levels: torch.Tensor) -> None:
        super().__init__()
        self.classifier = classifier
        self.levels = levels

    def forward(self, rois: torch.Tensor) -> torch.Tensor:
        feats = self.classifier.features(rois)
        rows = torch.arange(feats.shape[0], device=feats.device)[:, None]
        out = []
        for i in range(feats.shape[0]):
            own = torch.where(rows == i, feats, feats.detach())
            out.append(self.classifier.head(own, self.levels)[0][i])
        return torch.stack(out)[:, None]


def gradcam_maps(classifier: FractureClassifier, rois: torch.Tensor, levels: torch.Tensor,
                 method: str | None = None, layer: str | None = None) -> np.ndarray:
    """One class-activation map per ROI, on the ROI grid, each scaled to a maximum of 1.

    Args:
        classifier: the trained classifier (its mode is restored afterwards).
        rois: (P, C, z, y, x) ROIs of one patient, as given to the classifier.
        levels: (P,) level indices 0..6.
        method: a key of :data:`CAM_METHODS`; None: :data:`CAM_METHOD`.
        layer: the classifier's module whose activations are read (an encoder stage); None:
            :data:`CAM_LAYER`.

    Returns:
        float32 (P, z, y, x) in [0, 1], 0 within :data:`BORDER_VOXELS` of the ROI's faces; a level
        whose map is all zero (no positive evidence) stays 0.
    """
    method, layer = method or CAM_METHOD, layer or CAM_LAYER
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}, got {method!r}")
    was_training = classifier.training
    cam = CAM_METHODS[method](nn_module=_OwnLevelLogits(classifier, levels), target_layers=f"classifier.{layer}")
    # cuDNN's GRU refuses a backward pass in eval mode (CUDA only; MONAI puts the model in eval
    # mode, which Grad-CAM needs for its batch statistics): on CUDA the pass runs on the native
    # kernels (slower convolutions; results equal to rounding). On a CPU nothing changes.
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=not rois.is_cuda):
        raw = cam.compute_map(rois, class_idx=0)  # (P, 1, z', y', x'), ReLU'd, at the layer's stride
    classifier.train(was_training)
    maps = F.interpolate(raw.detach().float(), size=tuple(rois.shape[2:]), mode="trilinear", align_corners=False)[:, 0]
    # The first stage's cells at the ROI's faces see the convolutions' zero padding; their heat
    # is an edge of the box, not of the anatomy (a bright band along the box on the real CT).
    b = min(BORDER_VOXELS, *(n // 4 for n in maps.shape[1:]))
    if b:
        inner = torch.zeros_like(maps[0], dtype=torch.bool)
        inner[b:-b, b:-b, b:-b] = True
        maps = maps * inner
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None, None]
    maps = torch.where(peak > 1e-11, maps / peak, torch.zeros_like(maps))
    return maps.clamp(0, 1).cpu().numpy().astype(np.float32)


def heatmap_volume(shape_zyx: tuple[int, ...], maps: np.ndarray, starts: np.ndarray,
                   weights: np.ndarray) -> np.ndarray:
    """Paste per-level maps into one volume: the maximum over levels of ``weight × map``.

    Args:
        shape_zyx: the volume's shape (the 1 mm crop).
        maps: (P, z, y, x) maps in [0, 1] on the ROI grids.
        starts: (P, 3) each ROI's first voxel (z, y, x) in the volume.
        weights: (P,) factors in [0, 1] (the level's fracture probability: a level the model
            finds normal is not painted as hot as a suspicious one).

    Returns:
        float32 (z, y, x) in [0, 1].
    """
    heat = np.zeros(shape_zyx, np.float32)
    for m, s, w in zip(maps, starts, weights):
        paste_box_max(heat, (m * float(w)).astype(np.float32), s)
    return heat


__all__ = ["BORDER_VOXELS", "CAM_LAYER", "CAM_METHOD", "CAM_METHODS", "GradCAMpp", "HiResCAM", "gradcam_maps", "heatmap_volume"]
