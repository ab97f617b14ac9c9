"""The 3D U-Net of both segmentation stages.

The level stage (2 mm, whole crop) outputs background + C1..C7; the vertebra stage (1 mm, sliding
window) outputs background + vertebra and a fracture-region logit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from monai.networks.blocks.dynunet_block import UnetOutBlock, UnetUpBlock
from torch import nn

from ..constants import N_CLASSES
from ..preprocess.channels import N_CHANNELS
from .encoder import DEFAULT_CHANNELS, NORM, SpineEncoder, load_encoder_state, pad_to_multiple

#: Classes of the vertebra stage: background, vertebra (softmax), then a fracture-region logit.
N_VERTEBRA_CLASSES = 2


class SpineUNet(nn.Module):
    """U-Net on :class:`SpineEncoder` with MONAI up-sampling blocks.

    Any input size works: the input is zero-padded to a multiple of the encoder stride and the
    output cropped back.

    Args:
        in_channels: input channels.
        channels: encoder channels per stage; the decoder mirrors them.
        n_classes: softmax classes (8 = background + C1..C7; 2 = background + vertebra).
        fracture_channel: add a fracture-region logit after the classes (index ``n_classes``).

    Raises:
        ValueError: bad channel or class counts.
    """

    def __init__(self, in_channels: int = N_CHANNELS, channels: Sequence[int] = DEFAULT_CHANNELS,
                 n_classes: int = N_CLASSES, fracture_channel: bool = True) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.n_classes = int(n_classes)
        self.encoder = SpineEncoder(in_channels, channels)
        ch = self.encoder.channels
        self.up = nn.ModuleList(
            UnetUpBlock(3, ch[i], ch[i - 1], kernel_size=3, stride=1, upsample_kernel_size=2, norm_name=NORM)
            for i in range(len(ch) - 1, 0, -1)
        )
        self.out_channels = self.n_classes + (1 if fracture_channel else 0)
        self.head = UnetOutBlock(3, ch[0], self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment.

        Args:
            x: (batch, in_channels, z, y, x), any size.

        Returns:
            Logits (batch, out_channels, z, y, x): the classes, then the fracture logit if any.
        """
        padded, (z, y, xx) = pad_to_multiple(x, self.encoder.stride)
        feats = self.encoder(padded)
        h = feats[-1]
        for up, skip in zip(self.up, reversed(feats[:-1])):
            h = up(h, skip)
        return self.head(h)[:, :, :z, :y, :xx]

    def load_encoder(self, state: Mapping[str, torch.Tensor]) -> None:
        """Initialise the encoder from an MAE (or any) encoder state dict.

        An encoder with more input channels than the source (the level stage adds a position
        channel) gets the source's first-layer weights for the shared channels and zeros for the
        extra ones, so that it starts as the pretrained encoder.

        Args:
            state: ``SpineEncoder.state_dict()``, or a full MAE state dict (``encoder.`` keys).

        Raises:
            ValueError: the state does not match this encoder (missing, extra or mis-shaped keys).
        """
        load_encoder_state(self.encoder, state)


__all__ = ["N_CLASSES", "N_VERTEBRA_CLASSES", "SpineUNet"]
