"""Masked autoencoder (MAE) pretraining of :class:`SpineEncoder` on unlabelled bone-windowed CT.

A convolutional MAE: random 3D patches of the input are zeroed (all channels, so the priors do not
leak the hidden intensities), the encoder sees the rest, a light decoder reconstructs the three bone
windows, and the loss counts masked patches only (He et al. 2022; for CNN encoders as in SparK and
ConvNeXt V2, which also zero masked patches instead of dropping tokens).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution
from torch import nn

from ..preprocess.channels import N_CHANNELS
from .encoder import DEFAULT_CHANNELS, NORM, SpineEncoder, pad_to_multiple

#: MAE defaults: 75 % of patches hidden (He et al. 2022), 16-voxel patches (3D ViT-MAE practice).
DEFAULT_MASK_RATIO = 0.75
DEFAULT_PATCH = 16
#: The windows reconstructed (channels 0..2 of the input).
N_TARGETS = 3


def random_patch_mask(shape_zyx: Sequence[int], patch: int, ratio: float, batch: int = 1,
                      generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random mask hiding ``ratio`` of the patches of a volume.

    Args:
        shape_zyx: volume size (z, y, x), each a multiple of ``patch``.
        patch: patch edge in voxels.
        ratio: fraction of patches hidden, in (0, 1); rounded to whole patches.
        batch: masks to draw (one per sample).
        generator: torch random generator (for reproducible masks).
        device: where the mask lives.

    Returns:
        float tensor (batch, 1, z, y, x): 1 where hidden, 0 where visible.

    Raises:
        ValueError: ratio outside (0, 1), patch < 1, or a size not a multiple of ``patch``.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    if patch < 1 or any(int(s) % patch for s in shape_zyx):
        raise ValueError(f"volume size {tuple(shape_zyx)} must be a multiple of the patch size {patch}")
    grid = [int(s) // patch for s in shape_zyx]
    n = grid[0] * grid[1] * grid[2]
    n_hidden = min(n - 1, max(1, round(ratio * n)))
    order = torch.rand(batch, n, generator=generator).argsort(dim=1)
    hidden = torch.zeros(batch, n)
    hidden.scatter_(1, order[:, :n_hidden], 1.0)
    mask = hidden.view(batch, 1, *grid)
    for axis in (2, 3, 4):
        mask = mask.repeat_interleave(patch, dim=axis)
    return mask.to(device)


class SpineMAE(nn.Module):
    """Encoder + light decoder that reconstructs the bone windows of masked patches.

    Args:
        in_channels: input channels.
        channels: encoder channels per stage (see :class:`SpineEncoder`).
        mask_ratio: fraction of patches hidden, in (0, 1).
        patch_size: patch edge in voxels; a multiple of the encoder stride.
        decoder_channels: channels of the decoder's up-sampling steps (deep to shallow).

    Raises:
        ValueError: bad ratio or a patch size the encoder cannot resolve.
    """

    def __init__(self, in_channels: int = N_CHANNELS, channels: Sequence[int] = DEFAULT_CHANNELS,
                 mask_ratio: float = DEFAULT_MASK_RATIO, patch_size: int = DEFAULT_PATCH,
                 decoder_channels: int = 16) -> None:
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.encoder = SpineEncoder(in_channels, channels)
        if patch_size < 1 or patch_size % self.encoder.stride:
            raise ValueError(f"patch_size must be a multiple of the encoder stride {self.encoder.stride}, "
                             f"got {patch_size}")
        self.mask_ratio = mask_ratio
        self.patch_size = patch_size
        layers: list[nn.Module] = [Convolution(3, self.encoder.channels[-1], decoder_channels, kernel_size=1,
                                               norm=NORM, act="leakyrelu")]
        # Light: one thin conv per factor of two, up to half resolution; the windows are
        # reconstructed at half resolution (2x2x2 means), which keeps pretraining cheap on a CPU.
        for _ in range(len(self.encoder.stages) - 1):
            layers += [nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                       Convolution(3, decoder_channels, decoder_channels, kernel_size=3, norm=NORM,
                                   act="leakyrelu")]
        layers.append(nn.Conv3d(decoder_channels, N_TARGETS, kernel_size=1))
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask, encode, reconstruct.

        Args:
            x: (batch, in_channels, z, y, x) network channels.
            mask: optional (batch, 1, z', y', x') mask on the padded size; drawn at random if None.
            generator: random generator for the mask.

        Returns:
            (loss on hidden voxels of the half-resolution windows, reconstruction (batch, 3, z, y, x)
            in window units (up-sampled), mask (batch, 1, z, y, x)). Padding counts as visible
            air only through the patches it shares with the volume.
        """
        padded, size = pad_to_multiple(x, self.patch_size)
        if mask is None:
            mask = random_patch_mask(padded.shape[2:], self.patch_size, self.mask_ratio, padded.shape[0],
                                     generator, padded.device)
        recon = self.decoder(self.encoder(padded * (1.0 - mask))[-1])
        target = nn.functional.avg_pool3d(padded[:, :N_TARGETS], 2)
        loss = masked_mse(recon, target, nn.functional.max_pool3d(mask, 2))
        recon = nn.functional.interpolate(recon, scale_factor=2, mode="trilinear", align_corners=False)
        z, y, xx = size
        return loss, recon[:, :, :z, :y, :xx], mask[:, :, :z, :y, :xx]


def masked_mse(recon: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over hidden voxels only (mask 1), all target channels.

    Args:
        recon: (batch, c, z, y, x).
        target: (batch, c, z, y, x).
        mask: (batch, 1, z, y, x), 1 = hidden.

    Returns:
        Scalar loss; 0 if nothing is hidden.
    """
    err = (recon.float() - target.float()) ** 2 * mask
    return err.sum() / (mask.sum() * recon.shape[1]).clamp_min(1.0)


__all__ = ["DEFAULT_MASK_RATIO", "DEFAULT_PATCH", "SpineMAE", "masked_mse", "random_patch_mask"]
