"""The 3D encoder shared by the MAE, the segmentation U-Net and the fracture classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from monai.networks.blocks import Convolution
from monai.networks.blocks.dynunet_block import UnetResBlock
from torch import nn

from ..preprocess.channels import N_CHANNELS

#: Feature channels per stage (stage 0 at full resolution, each next one at half of it).
DEFAULT_CHANNELS: tuple[int, ...] = (8, 16, 32, 64, 96)
NORM = ("instance", {"affine": True})


class SpineEncoder(nn.Module):
    """A residual 3D CNN encoder (MONAI blocks) returning one feature map per stage.

    Args:
        in_channels: input channels (the five of :mod:`SpineFractureLib.preprocess.channels`).
        channels: feature channels per stage; stage ``i`` has stride ``2**i``.

    Raises:
        ValueError: fewer than two stages, or a non-positive channel count.
    """

    def __init__(self, in_channels: int = N_CHANNELS, channels: Sequence[int] = DEFAULT_CHANNELS) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"the encoder needs at least two stages, got channels={channels}")
        if in_channels < 1 or min(channels) < 1:
            raise ValueError(f"channel counts must be positive, got in={in_channels}, channels={channels}")
        self.in_channels = in_channels
        self.channels = channels
        # One plain convolution at full resolution: the costliest level is kept thin.
        self.stem = Convolution(3, in_channels, channels[0], kernel_size=3, norm=NORM, act="leakyrelu")
        self.stages = nn.ModuleList(
            UnetResBlock(3, channels[i - 1], channels[i], kernel_size=3, stride=2, norm_name=NORM)
            for i in range(1, len(channels))
        )

    @property
    def stride(self) -> int:
        """Total down-sampling factor of the deepest stage (input sizes must be multiples of it)."""
        return 2 ** len(self.stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode.

        Args:
            x: (batch, in_channels, z, y, x), sizes multiples of :attr:`stride`.

        Returns:
            Feature maps, full resolution first, deepest last.
        """
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Zero-pad the three spatial axes at their far end up to a multiple of ``multiple``.

    Args:
        x: (batch, channels, z, y, x).
        multiple: the size every spatial axis must divide by.

    Returns:
        The padded tensor and the original (z, y, x) size, to crop back with.
    """
    size = tuple(int(s) for s in x.shape[2:])
    pads = [(-s) % multiple for s in size]
    if any(pads):
        # F.pad lists the last axis first: (x_lo, x_hi, y_lo, y_hi, z_lo, z_hi).
        x = nn.functional.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]))
    return x, size  # type: ignore[return-value]


def load_encoder_state(encoder: SpineEncoder, state: Mapping[str, torch.Tensor], *,
                       allow_deeper: bool = False) -> None:
    """Initialise an encoder from another encoder's weights (MAE, a U-Net stage, a classifier).

    A target with more input channels than the source (the level stage's position channel, the
    classifier's mask channels) gets the source's first-layer weights for the shared channels and
    zeros for the extra ones, so that it starts as the source encoder.

    Args:
        encoder: the encoder to load into.
        state: ``SpineEncoder.state_dict()``, or a model state dict with ``encoder.`` keys.
        allow_deeper: the source may have more stages than the target (the classifier keeps the
            first stages of the segmentation encoder); the extra ones are dropped.

    Raises:
        ValueError: the state does not match this encoder (missing, extra or mis-shaped keys).
    """
    if any(k.startswith("encoder.") for k in state):
        state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    own = encoder.state_dict()
    state = dict(state)
    if allow_deeper:
        state = {k: v for k, v in state.items() if k in own}
    for key, value in state.items():
        target = own.get(key)
        if (target is not None and value.ndim == 5 and target.ndim == 5 and target.shape[0] == value.shape[0]
                and target.shape[2:] == value.shape[2:] and target.shape[1] > value.shape[1]):
            widened = torch.zeros_like(target)
            widened[:, :value.shape[1]] = value.to(target.dtype)
            state[key] = widened
    try:
        encoder.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as err:
        raise ValueError(f"encoder weights do not fit this encoder: {err}") from err


__all__ = ["DEFAULT_CHANNELS", "SpineEncoder", "load_encoder_state", "pad_to_multiple"]
