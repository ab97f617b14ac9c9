"""The structure-aware 3D U-Net: bone windows + priors in, background + C1..C7 + fracture region out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from monai.networks.blocks.dynunet_block import UnetOutBlock, UnetUpBlock
from torch import nn

from ..preprocess.channels import N_CHANNELS
from .encoder import DEFAULT_CHANNELS, NORM, SpineEncoder, pad_to_multiple

#: Output channels: background, C1..C7 (softmax), then one fracture-region logit (sigmoid).
N_CLASSES = 8
FRACTURE_CHANNEL = N_CLASSES


class SpineUNet(nn.Module):
    """U-Net on :class:`SpineEncoder` with MONAI up-sampling blocks.

    Any input size works: the input is zero-padded to a multiple of the encoder stride and the
    output cropped back.

    Args:
        in_channels: input channels.
        channels: encoder channels per stage; the decoder mirrors them.
        fracture_channel: add the fracture-region output channel.

    Raises:
        ValueError: bad channel counts (from the encoder).
    """

    def __init__(self, in_channels: int = N_CHANNELS, channels: Sequence[int] = DEFAULT_CHANNELS,
                 fracture_channel: bool = True) -> None:
        super().__init__()
        self.encoder = SpineEncoder(in_channels, channels)
        ch = self.encoder.channels
        self.up = nn.ModuleList(
            UnetUpBlock(3, ch[i], ch[i - 1], kernel_size=3, stride=1, upsample_kernel_size=2, norm_name=NORM)
            for i in range(len(ch) - 1, 0, -1)
        )
        self.out_channels = N_CLASSES + (1 if fracture_channel else 0)
        self.head = UnetOutBlock(3, ch[0], self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment.

        Args:
            x: (batch, in_channels, z, y, x), any size.

        Returns:
            Logits (batch, out_channels, z, y, x): 0 background, 1..7 C1..C7, 8 fracture region.
        """
        padded, (z, y, xx) = pad_to_multiple(x, self.encoder.stride)
        feats = self.encoder(padded)
        h = feats[-1]
        for up, skip in zip(self.up, reversed(feats[:-1])):
            h = up(h, skip)
        return self.head(h)[:, :, :z, :y, :xx]

    def load_encoder(self, state: Mapping[str, torch.Tensor]) -> None:
        """Initialise the encoder from an MAE (or any) encoder state dict.

        Args:
            state: ``SpineEncoder.state_dict()``, or a full MAE state dict (``encoder.`` keys).

        Raises:
            ValueError: the state does not match this encoder (missing, extra or mis-shaped keys).
        """
        if any(k.startswith("encoder.") for k in state):
            state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
        try:
            self.encoder.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"encoder weights do not fit this U-Net: {err}") from err


__all__ = ["FRACTURE_CHANNEL", "N_CLASSES", "SpineUNet"]
