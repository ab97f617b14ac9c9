"""Encoder, MAE and U-Net: shapes and dtypes for odd sizes, bad arguments, masking, weight transfer."""

from __future__ import annotations

import pytest
import torch

from SpineFractureLib.models.encoder import SpineEncoder, pad_to_multiple
from SpineFractureLib.models.mae import SpineMAE, masked_mse, random_patch_mask
from SpineFractureLib.models.unet import N_CLASSES, N_VERTEBRA_CLASSES, SpineUNet

SMALL = (4, 8, 8, 12)


@pytest.mark.parametrize("size", [(16, 16, 16), (17, 23, 9), (33, 20, 31)])
def test_unet_output_shape_and_dtype_for_odd_sizes(size):
    torch.manual_seed(0)
    net = SpineUNet(channels=SMALL).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 5, *size))
    assert out.shape == (2, N_CLASSES + 1, *size)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_unet_without_fracture_channel():
    net = SpineUNet(channels=SMALL, fracture_channel=False).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 5, 9, 10, 11)).shape == (1, N_CLASSES, 9, 10, 11)


def test_unet_stage_variants_and_bad_class_count():
    vertebra = SpineUNet(5, SMALL, n_classes=N_VERTEBRA_CLASSES).eval()
    levels = SpineUNet(6, SMALL, n_classes=N_CLASSES, fracture_channel=False).eval()
    with torch.no_grad():
        assert vertebra(torch.rand(1, 5, 11, 12, 13)).shape == (1, 3, 11, 12, 13)
        assert levels(torch.rand(1, 6, 11, 12, 13)).shape == (1, 8, 11, 12, 13)
    with pytest.raises(ValueError):
        SpineUNet(channels=SMALL, n_classes=1)


@pytest.mark.parametrize("size", [(16, 32, 48), (7, 9, 13)])
def test_encoder_feature_pyramid(size):
    enc = SpineEncoder(channels=SMALL)
    padded, original = pad_to_multiple(torch.rand(1, 5, *size), enc.stride)
    assert original == size and all(s % enc.stride == 0 for s in padded.shape[2:])
    feats = enc(padded)
    assert [f.shape[1] for f in feats] == list(SMALL)
    assert [f.shape[2] for f in feats] == [padded.shape[2] // 2**i for i in range(len(SMALL))]


@pytest.mark.parametrize("kwargs", [{"channels": (8,)}, {"channels": (8, 0, 16)}, {"in_channels": 0}])
def test_encoder_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SpineEncoder(**kwargs)


@pytest.mark.parametrize("kwargs", [{"mask_ratio": 0.0}, {"mask_ratio": 1.0}, {"patch_size": 12},
                                    {"patch_size": 0}])
def test_mae_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SpineMAE(channels=SMALL, **kwargs)


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
def test_mask_ratio_is_honoured(ratio):
    g = torch.Generator().manual_seed(1)
    mask = random_patch_mask((64, 64, 48), 16, ratio, batch=3, generator=g)
    assert mask.shape == (3, 1, 64, 64, 48)
    n_patches = 4 * 4 * 3
    for m in mask:
        assert m.mean().item() == pytest.approx(round(ratio * n_patches) / n_patches)
        # whole patches: every 16^3 block is all hidden or all visible
        blocks = m[0].reshape(4, 16, 4, 16, 3, 16).permute(0, 2, 4, 1, 3, 5).reshape(48, -1)
        assert torch.all((blocks.min(1).values == blocks.max(1).values))
    with pytest.raises(ValueError):
        random_patch_mask((60, 64, 48), 16, 0.75)


def test_mae_loss_counts_hidden_patches_only():
    recon = torch.zeros(1, 3, 4, 4, 4)
    target = torch.zeros(1, 3, 4, 4, 4)
    mask = torch.zeros(1, 1, 4, 4, 4)
    mask[..., :2] = 1
    target[..., 2:] = 5.0  # errors only where visible
    assert masked_mse(recon, target, mask).item() == 0.0
    target[..., 0] = 1.0
    assert masked_mse(recon, target, mask).item() == pytest.approx(0.5)


def test_mae_forward_and_masked_input():
    torch.manual_seed(0)
    mae = SpineMAE(channels=SMALL, mask_ratio=0.75, patch_size=16)
    x = torch.rand(2, 5, 20, 30, 17)
    loss, recon, mask = mae(x)
    assert recon.shape == (2, 3, 20, 30, 17) and mask.shape == (2, 1, 20, 30, 17)
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert all(p.grad is not None for p in mae.encoder.parameters())


def test_mae_weights_transfer_into_unet():
    torch.manual_seed(0)
    mae = SpineMAE(channels=SMALL)
    with torch.no_grad():  # make the MAE encoder distinct from any fresh initialisation
        for p in mae.encoder.parameters():
            p.add_(torch.randn_like(p))
    unet = SpineUNet(channels=SMALL)
    before_decoder = {k: v.clone() for k, v in unet.state_dict().items() if not k.startswith("encoder.")}
    unet.load_encoder(mae.state_dict())
    for (name, a), b in zip(unet.encoder.state_dict().items(), mae.encoder.state_dict().values()):
        assert torch.equal(a, b), name
    for k, v in unet.state_dict().items():
        if not k.startswith("encoder."):
            assert torch.equal(v, before_decoder[k]), f"{k} changed"
    with pytest.raises(ValueError):
        SpineUNet(channels=(4, 8, 8, 16)).load_encoder(mae.state_dict())


def test_mae_weights_transfer_into_a_wider_first_layer():
    """The level network has one more input (position): shared inputs copied, the extra one zero."""
    torch.manual_seed(0)
    mae = SpineMAE(channels=SMALL)
    unet = SpineUNet(6, SMALL, fracture_channel=False)
    unet.load_encoder(mae.state_dict())
    src, dst = mae.encoder.state_dict(), unet.encoder.state_dict()
    first = [k for k in src if src[k].ndim == 5 and dst[k].shape != src[k].shape]
    assert len(first) == 1
    assert torch.equal(dst[first[0]][:, :5], src[first[0]]) and not dst[first[0]][:, 5:].any()
    for k in src:
        if k not in first:
            assert torch.equal(dst[k], src[k]), k
