"""Geometry-consistency and segmentation losses."""

from __future__ import annotations

import pytest
import torch

from SpineFractureLib.train.losses import GeometryConsistencyLoss, SegmentationLoss


def _column(order=(1, 2, 3, 4, 5, 6, 7), gap=2, height=6):
    """A label map (z, y, x) with levels stacked along z, C1 at the top (high z), discs between."""
    nz = len(order) * (height + gap) + gap
    labels = torch.zeros(nz, 6, 6, dtype=torch.long)
    for i, value in enumerate(order):
        top = nz - gap - i * (height + gap)
        labels[top - height:top] = value
    return labels


def _one_hot(labels, sharp=True):
    probs = torch.nn.functional.one_hot(labels, 8).permute(3, 0, 1, 2).float()[None]
    return probs


def test_geometry_zero_on_a_perfect_ordered_prediction():
    loss = GeometryConsistencyLoss(margin=5.0)
    labels = _column()
    present = torch.ones(1, 7, dtype=torch.bool)
    assert loss(_one_hot(labels), present).item() == pytest.approx(0.0, abs=1e-6)


def test_geometry_positive_when_two_levels_are_swapped():
    loss = GeometryConsistencyLoss(margin=5.0)
    present = torch.ones(1, 7, dtype=torch.bool)
    swapped = loss(_one_hot(_column(order=(1, 3, 2, 4, 5, 6, 7))), present)
    assert swapped.item() > 0.3  # one of six adjacent pairs inverted by 1.6 margins


def test_geometry_contact_term_penalises_touching_non_adjacent_levels():
    loss = GeometryConsistencyLoss(margin=1.0)
    present = torch.ones(1, 7, dtype=torch.bool)
    # No discs: adjacent levels touch, which is allowed.
    assert loss(_one_hot(_column(gap=0)), present).item() == pytest.approx(0.0, abs=1e-6)
    present[0, 1] = False  # C2 missing: C1 now touches C3, which is not allowed
    touching = _column(order=(1, 3, 4, 5, 6, 7), gap=0)
    assert loss(_one_hot(touching), present).item() > 1e-3


def test_geometry_ignores_absent_levels_and_checks_arguments():
    loss = GeometryConsistencyLoss()
    labels = _column(order=(1, 3, 2, 4, 5, 6, 7))
    present = torch.ones(1, 7, dtype=torch.bool)
    present[0, 1:3] = False  # the swapped pair is not in the truth
    assert loss(_one_hot(labels), present).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        GeometryConsistencyLoss(margin=0)
    with pytest.raises(ValueError):
        GeometryConsistencyLoss(contact_weight=-1)


def test_segmentation_loss_terms_and_gradients():
    torch.manual_seed(0)
    labels = _column()[None, None]
    logits = torch.randn(1, 9, *labels.shape[2:], requires_grad=True)
    fracture = torch.zeros_like(labels, dtype=torch.float32)
    terms = SegmentationLoss()(logits, labels, fracture, torch.tensor([True]))
    assert set(terms) == {"total", "dice_ce", "geometry", "fracture"}
    assert all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()
    assert logits.grad.abs().sum() > 0
    # A near-perfect prediction scores far lower than a random one.
    good = (_one_hot(labels[0, 0]) * 20 - 10)
    good = torch.cat([good, torch.full((1, 1, *labels.shape[2:]), -10.0)], 1)
    assert SegmentationLoss()(good, labels, fracture)["total"] < 0.2 * terms["total"].item()
    off = SegmentationLoss(geometry_weight=0.0)(logits, labels)
    assert off["geometry"].item() == 0.0 and off["fracture"].item() == 0.0


def test_geometry_weight_passed_per_step_overrides_the_constructor():
    torch.manual_seed(1)
    labels = _column()[None, None]
    logits = torch.randn(1, 8, *labels.shape[2:])
    loss = SegmentationLoss(geometry_weight=0.5)
    on, off = loss(logits, labels), loss(logits, labels, geometry_weight=0.0)
    assert on["geometry"].item() > 0 and off["geometry"].item() == 0.0
    assert off["total"].item() == pytest.approx(on["dice_ce"].item())
    assert on["total"].item() == pytest.approx(on["dice_ce"].item() + 0.5 * on["geometry"].item())
