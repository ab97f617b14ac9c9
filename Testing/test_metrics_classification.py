"""Classification metrics against hand-computed values; calibration and operating points."""

import numpy as np
import pytest
import torch

from SpineFractureLib.metrics.classification import (
    ece_if_calibrated,
    expected_calibration_error,
    fit_temperature,
    operating_points,
    roc_auc,
    rsna_weighted_bce,
    rsna_weighted_log_loss,
    sensitivity_specificity,
)


def test_rsna_metric_equals_the_hand_computed_table():
    # Study A: C1 fractured (p 0.9, weight 2), C2 normal at p 0.1, C3-C7 at 0.5; patient p 0.8 (weight 14):
    #   (2·(-ln .9) + (-ln .9) + 5·(-ln .5) + 14·(-ln .8)) / (2 + 1 + 5 + 14) = 0.3139012
    # Study B: nothing fractured, levels at 0.2, patient 0.3 (weight 7):
    #   (7·(-ln .8) + 7·(-ln .7)) / (7 + 7) = 0.2899092;  mean of the two = 0.3019052
    levels = np.array([[0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5], [0.2] * 7])
    targets = np.array([[1, 0, 0, 0, 0, 0, 0], [0] * 7])
    value = rsna_weighted_log_loss(levels, targets, np.array([0.8, 0.3]), np.array([1, 0]))
    assert value == pytest.approx(0.3019052, abs=1e-6)


def test_rsna_metric_clips_and_skips_unknown_levels():
    perfect_but_zero = rsna_weighted_log_loss(np.zeros((1, 7)), np.ones((1, 7)), np.zeros(1), np.ones(1))
    assert perfect_but_zero == pytest.approx(-np.log(1e-15), rel=1e-6)
    unknown = np.array([[1, -1, -1, -1, -1, -1, -1]])
    only_c1 = rsna_weighted_log_loss(np.full((1, 7), 0.5), unknown, np.array([0.5]), np.array([1]))
    assert only_c1 == pytest.approx(np.log(2), rel=1e-6)


def test_training_loss_matches_the_metric_on_one_study():
    p = np.array([0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5])
    y = np.array([1, 0, 0, 0, 0, 0, 0])
    logit = lambda q: torch.logit(torch.as_tensor(q, dtype=torch.float64))  # noqa: E731
    loss = rsna_weighted_bce(logit(p), torch.as_tensor(y), logit(0.8), torch.tensor(1))
    assert float(loss) == pytest.approx(0.3139012, abs=1e-6)


def test_auc_sensitivity_specificity():
    y = [0, 0, 1, 1]
    assert roc_auc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([1, 1], [0.2, 0.3]) is None
    assert sensitivity_specificity(y, [0.1, 0.4, 0.35, 0.8], 0.38) == (0.5, 0.5)


def test_temperature_scaling_lowers_ece_on_an_overconfident_toy():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    over = true_logit * 4.0  # four times too confident
    before = expected_calibration_error(y, 1 / (1 + np.exp(-over)))
    t = fit_temperature(over, y)
    after = expected_calibration_error(y, 1 / (1 + np.exp(-over / t)))
    assert t == pytest.approx(4.0, rel=0.15)
    assert before > 0.08 and after < 0.03


def test_ece_equals_the_hand_computed_value():
    # bins [0, .1): 0.05 vs 0; [.1, .2): 0.15 vs 1; [.9, 1]: 0.95 vs 1 (twice) -> (0.05 + 0.85 + 2 * 0.05) / 4
    assert expected_calibration_error([0, 1, 1, 1], [0.05, 0.15, 0.95, 0.95]) == pytest.approx(0.25, abs=1e-6)


def test_ece_floor_of_a_calibrated_small_sample_and_a_miscalibrated_one():
    rng = np.random.default_rng(3)
    p = rng.choice([0.15, 0.93], size=48)  # two clusters, like a patient-level output
    y = (rng.random(48) < p).astype(float)  # drawn from the probabilities: calibrated by construction
    calibrated = ece_if_calibrated(y, p)
    assert calibrated["expected"] > 0.03  # a perfect model shows this much ECE on 48 cases
    assert calibrated["p_value"] > 0.05 and calibrated["q90"] >= calibrated["expected"]
    assert ece_if_calibrated(y, np.clip(p + 0.3, 0, 0.99))["p_value"] < 0.01
    many = rng.choice([0.15, 0.93], size=4800)
    floor = ece_if_calibrated((rng.random(4800) < many).astype(float), many, draws=100)["expected"]
    assert floor < calibrated["expected"] / 4
    assert ece_if_calibrated([], []) is None


def test_operating_points():
    y = np.array([0] * 50 + [1] * 20)
    p = np.concatenate([np.linspace(0, 0.6, 50), np.linspace(0.3, 1.0, 20)])
    points = operating_points(y, p, min_specificity=0.0)
    sens, _ = sensitivity_specificity(y, p, points["triage"])
    assert sens >= 0.95 and points["triage"] <= points["balanced"]
    j = lambda t: sum(sensitivity_specificity(y, p, t)) - 1  # noqa: E731
    assert all(j(points["balanced"]) >= j(t) - 1e-12 for t in np.linspace(0, 1, 101))


def test_balanced_threshold_keeps_the_specificity_floor():
    """Youden J alone takes a threshold with specificity 0.78 here; the floor moves it up to 0.98."""
    y = np.array([0] * 50 + [1] * 20)
    p = np.concatenate([np.linspace(0, 0.8, 50), np.linspace(0.2, 1.0, 20)])
    youden = operating_points(y, p, min_specificity=0.0)["balanced"]
    kept = operating_points(y, p)["balanced"]
    _, spec_youden = sensitivity_specificity(y, p, youden)
    _, spec_kept = sensitivity_specificity(y, p, kept)
    assert spec_youden < 0.98 <= spec_kept and kept > youden
    j = lambda t: sum(sensitivity_specificity(y, p, t)) - 1  # noqa: E731
    floor_ok = [t for t in np.linspace(0, 1, 201) if sensitivity_specificity(y, p, t)[1] >= 0.98]
    assert all(j(kept) >= j(t) - 1e-12 for t in floor_ok)
    # no threshold keeps the floor when every negative scores above every positive: plain Youden J
    assert operating_points([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], min_specificity=1.1)["balanced"] == \
        operating_points([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], min_specificity=0.0)["balanced"]


def test_fracture_region_loss_marks_a_cell_with_any_fractured_voxel():
    from SpineFractureLib.metrics.classification import fracture_region_bce

    region = torch.zeros(1, 16, 16, 16)
    region[0, 9, 2, 2] = 1  # one voxel: cell (1, 0, 0) of a 2x2x2 grid of 8-voxel cells
    right = torch.full((1, 2, 2, 2), -8.0)
    right[0, 1, 0, 0] = 8.0
    wrong = torch.full((1, 2, 2, 2), -8.0)
    wrong[0, 0, 1, 1] = 8.0
    assert float(fracture_region_bce(right, region)) < 0.01
    assert float(fracture_region_bce(wrong, region)) > 1.0
