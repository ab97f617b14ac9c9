"""The two-stage segmentation model: a 2 mm level network and a 1 mm vertebra network."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..preprocess.channels import N_CHANNELS
from ..preprocess.coarse import N_COARSE_CHANNELS
from .encoder import DEFAULT_CHANNELS
from .unet import N_CLASSES, N_VERTEBRA_CLASSES, SpineUNet

#: The two stages, in the order a weights file and ``export-seg`` name them.
STAGE_NAMES = ("levels", "vertebra")


class SpineSegModel(nn.Module):
    """Both stages of the C1..C7 segmentation, loaded and moved together.

    Attributes:
        levels: whole crop at 2 mm with a position channel -> background + C1..C7.
        vertebra: 1 mm sliding window -> background + vertebra, and the fracture-region logit.
        levels_use_priors, vertebra_use_priors: whether each stage was trained with the prior
            channels (the ablation trains without them; inference must feed what training fed).
    """

    def __init__(self, levels: SpineUNet, vertebra: SpineUNet, levels_use_priors: bool = True,
                 vertebra_use_priors: bool = True) -> None:
        super().__init__()
        self.levels = levels
        self.vertebra = vertebra
        self.levels_use_priors = bool(levels_use_priors)
        self.vertebra_use_priors = bool(vertebra_use_priors)


def stage_network(stage: str, channels: tuple[int, ...] = DEFAULT_CHANNELS) -> SpineUNet:
    """The U-Net of a stage: ``levels`` (6 inputs, 8 classes) or ``vertebra`` (5 inputs, 2 classes + fracture).

    Raises:
        ValueError: unknown stage.
    """
    if stage == "levels":
        return SpineUNet(N_COARSE_CHANNELS, channels, n_classes=N_CLASSES, fracture_channel=False)
    if stage == "vertebra":
        return SpineUNet(N_CHANNELS, channels, n_classes=N_VERTEBRA_CLASSES, fracture_channel=True)
    raise ValueError(f"stage must be one of {STAGE_NAMES}, got {stage!r}")


def unet_arch(net: SpineUNet) -> dict[str, Any]:
    """The constructor arguments of a U-Net (stored beside its weights)."""
    return {"in_channels": net.encoder.in_channels, "channels": list(net.encoder.channels),
            "n_classes": net.n_classes, "fracture_channel": net.out_channels > net.n_classes}


def unet_from_arch(arch: dict[str, Any]) -> SpineUNet:
    """A fresh U-Net from :func:`unet_arch`'s output."""
    return SpineUNet(int(arch["in_channels"]), tuple(arch["channels"]), n_classes=int(arch["n_classes"]),
                     fracture_channel=bool(arch["fracture_channel"]))


__all__ = ["STAGE_NAMES", "SpineSegModel", "stage_network", "unet_arch", "unet_from_arch"]
