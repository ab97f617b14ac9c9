"""The fracture classifier: shapes for 1..7 levels, level embedding, context, bad arguments, Grad-CAM."""

import numpy as np
import pytest
import torch

from SpineFractureLib.models.classifier import FractureClassifier, classifier_from_arch
from SpineFractureLib.models.gradcam import CAM_METHODS, gradcam_maps, heatmap_volume

TINY = (4, 8, 8, 8)
ROI = (16, 24, 24)


def _net(**kw):
    torch.manual_seed(0)
    return FractureClassifier(channels=TINY, dim=16, **kw).eval()


@pytest.mark.parametrize("levels", [[0], [2, 3, 4], [0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6], [0, 1, 2, 3]])
def test_one_logit_per_present_level_and_one_patient_logit(levels):
    x = torch.randn(len(levels), 9, *ROI)
    logits, patient = _net()(x, torch.tensor(levels))
    assert logits.shape == (len(levels),) and patient.shape == ()
    assert torch.isfinite(logits).all() and torch.isfinite(patient)


def test_level_embedding_changes_the_output_and_can_be_switched_off():
    x = torch.randn(3, 9, *ROI)
    net = _net()
    a, _ = net(x, torch.tensor([2, 3, 4]))
    b, _ = net(x, torch.tensor([4, 3, 2]))  # the same ROIs named as other levels
    assert not torch.allclose(a, b)
    plain = _net(level_embedding=False, context="none")
    c, _ = plain(x, torch.tensor([2, 3, 4]))
    d, _ = plain(x, torch.tensor([4, 3, 2]))
    torch.testing.assert_close(c, d)


def test_context_lets_neighbours_change_a_levels_logit():
    x = torch.randn(3, 9, *ROI)
    y = x.clone()
    y[2] = torch.randn(9, *ROI)  # change C5's ROI only
    lv = torch.tensor([2, 3, 4])
    with_gru, without = _net(), _net(context="none")
    assert not torch.allclose(with_gru(x, lv)[0][0], with_gru(y, lv)[0][0])
    torch.testing.assert_close(without(x, lv)[0][0], without(y, lv)[0][0])


@pytest.mark.parametrize("kw", [{"context": "lstm"}, {"dim": 7}, {"channels": (8,)}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        FractureClassifier(**({"channels": TINY} | kw))


def test_no_level_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        _net()(torch.zeros(0, 9, *ROI), torch.zeros(0, dtype=torch.long))


def test_arch_round_trip():
    net = _net(context="none")
    twin = classifier_from_arch(net.arch)
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 9, *ROI)
    lv = torch.tensor([0, 1])
    torch.testing.assert_close(net(x, lv)[0], twin.eval()(x, lv)[0])


def _planted(rng, n, all_fractured=False):
    """ROIs of noise with a level mask; fractured ones hold a bright 6-voxel cube at a random place."""
    x = rng.normal(0, 0.3, (n, 9, *ROI)).astype(np.float32)
    x[:, 5] = 0.0
    x[:, 5, 2:14, 3:21, 3:21] = 1.0  # the level mask
    y = np.ones(n, bool) if all_fractured else rng.random(n) < 0.5
    where = []
    for i in range(n):
        z, a, b = rng.integers(2, 8), rng.integers(3, 15), rng.integers(3, 15)
        where.append((z, a, b))
        if y[i]:
            x[i, :3, z:z + 6, a:a + 6, b:b + 6] += 3.0
    return x, y.astype(np.float32), where


@pytest.fixture(scope="module")
def planted_net():
    """A tiny classifier trained to find a planted bright cube (seeded)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    net = FractureClassifier(channels=TINY, dim=16, context="none")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        x, y, _ = _planted(rng, 4)
        logits, _ = net(torch.from_numpy(x), torch.tensor([0, 1, 2, 3]))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_each_cam_method_is_in_range_and_higher_on_a_planted_fracture(planted_net, method):
    net = planted_net
    x, _, where = _planted(np.random.default_rng(1), 7, all_fractured=True)
    maps = gradcam_maps(net, torch.from_numpy(x), torch.arange(7), method=method)
    assert maps.shape == (7, *ROI) and maps.min() >= 0.0 and maps.max() <= 1.0
    inside, outside = [], []
    for i, (z, a, b) in enumerate(where):
        m = np.zeros(ROI, bool)
        m[z:z + 6, a:a + 6, b:b + 6] = True
        inside.append(maps[i][m].mean())
        outside.append(maps[i][~m].mean())
    assert np.mean(inside) > 1.5 * np.mean(outside)
    assert not net.training  # the mode is restored


def test_an_unknown_cam_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        gradcam_maps(_net(), torch.randn(1, 9, *ROI), torch.tensor([0]), method="lime")


def test_heatmap_volume_is_the_weighted_maximum():
    maps = np.ones((2, 4, 4, 4), np.float32)
    heat = heatmap_volume((10, 6, 6), maps, np.array([[0, 0, 0], [3, 2, 2]]), np.array([0.2, 0.9]))
    assert heat.dtype == np.float32 and heat.max() == pytest.approx(0.9)
    assert heat[0, 0, 0] == pytest.approx(0.2) and heat[3, 3, 3] == pytest.approx(0.9) and heat[9, 0, 0] == 0.0


def test_region_head_gives_one_logit_per_cell_and_can_be_left_out():
    x = torch.randn(3, 9, *ROI)
    lv = torch.tensor([1, 2, 3])
    logits, patient, region = _net()(x, lv, with_region=True)
    assert region.shape == (3, ROI[0] // 8, ROI[1] // 8, ROI[2] // 8)
    torch.testing.assert_close(logits, _net()(x, lv)[0])  # the head does not change the classification
    assert _net(region_head=False)(x, lv, with_region=True)[2] is None


def test_weights_written_before_the_region_head_still_load():
    net = _net(region_head=False)
    arch = {k: v for k, v in net.arch.items() if k != "region_head"}
    twin = classifier_from_arch(arch)
    twin.load_state_dict(net.state_dict())
    assert twin.region_head is None


def test_max_pooling_sees_a_small_finding_that_the_mean_dilutes():
    net = _net(pool="mean_max")
    x = torch.zeros(1, 9, *ROI)
    x[:, 5] = 1.0  # the level fills the box
    y = x.clone()
    y[:, :3, 4:8, 8:12, 8:12] = 5.0  # a small bright spot
    with torch.no_grad():
        feats_plain, fmap = net.encode(x)[1], net.encode(y)[1]
    changed = (fmap - feats_plain).abs().amax(dim=(2, 3, 4))  # per channel, the largest change
    mean_change = (fmap - feats_plain).mean(dim=(2, 3, 4)).abs()
    assert float(changed.max()) > 3 * float(mean_change.max())  # what max pooling keeps, the mean shrinks
    assert net.arch["pool"] == "mean_max" and classifier_from_arch(net.arch).pool == "mean_max"
    with pytest.raises(ValueError):
        _net(pool="median")


def test_level_embedding_starts_as_small_as_asked():
    assert float(_net(embedding_std=0.02).level_embedding.weight.detach().std()) < 0.03
    assert float(_net().level_embedding.weight.detach().std()) > 0.5  # PyTorch's default, N(0, 1)


def test_region_evidence_carries_the_region_heads_peak_inside_the_mask_into_the_logits():
    net = _net(region_evidence=True)
    x = torch.randn(2, 9, *ROI)
    x[:, 5] = 0.0
    x[:, 5, :8, :8, :8] = 1.0  # each level's mask fills the first 8 mm cell only
    lv = torch.tensor([2, 3])
    with torch.no_grad():
        base, patient = net(x, lv)
        region = net(x, lv, with_region=True)[2]
        net.region_head.bias += 2.0  # every cell's region logit up by 2
        raised, raised_patient = net(x, lv)
    torch.testing.assert_close(raised - base, torch.full((2,), 2.0))  # weight 1 at the start
    assert float(raised_patient - patient) == pytest.approx(2.0, abs=1e-5)
    with torch.no_grad():
        feats = net.features(x)
    assert feats.shape == (2, 16 + 1)
    torch.testing.assert_close(feats[:, -1], region[:, 0, 0, 0] + 2.0)  # the mask's cell, not the box's peak
    twin = classifier_from_arch(net.arch)
    assert twin.evidence_weight is not None
    with pytest.raises(ValueError):
        _net(region_evidence=True, region_head=False)


def test_gradcam_runs_with_region_evidence():
    net = _net(region_evidence=True)
    maps = gradcam_maps(net, torch.randn(3, 9, *ROI), torch.tensor([0, 1, 2]))
    assert maps.shape == (3, *ROI) and maps.min() >= 0.0 and maps.max() <= 1.0


def test_gradcampp_agrees_with_monai_where_monai_runs():
    # MONAI's GradCAMpp broadcasts its score correctly for one sample only; there both must agree.
    import monai.visualize as mv

    from SpineFractureLib.models.gradcam import GradCAMpp

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 4, 3, padding=1),
                              torch.nn.ReLU(), torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1))
    x = torch.randn(1, 2, 8, 8, 8)
    ours = GradCAMpp(nn_module=net, target_layers="3").compute_map(x, class_idx=0)
    theirs = mv.GradCAMpp(nn_module=net, target_layers="3").compute_map(x, class_idx=0)
    torch.testing.assert_close(ours, theirs)
    assert ours.abs().sum() > 0
