"""Classification metrics: AUC, sensitivity/specificity, calibration, the RSNA 2022 weighted log loss.

Also the two things derived from a validation split and stored with the weights: the softmax
temperature (Guo et al. 2017) and the operating points (balanced: maximum Youden J among the
thresholds keeping specificity ≥ 0.98; triage: the highest threshold keeping sensitivity ≥ 0.95).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.metrics import compute_roc_auc
from monai.metrics.calibration import calibration_binning

#: RSNA 2022 weights: per level 1 (negative) / 2 (positive); patient_overall 7 / 14.
RSNA_LEVEL_WEIGHTS = (1.0, 2.0)
RSNA_PATIENT_WEIGHTS = (7.0, 14.0)
RSNA_CLIP = 1e-15
TRIAGE_SENSITIVITY = 0.95
#: Validation specificity the balanced threshold keeps. Youden J alone weighs one missed fracture
#: and one false alarm alike per level, but a patient has up to seven intact levels: level
#: specificity s gives 1 - s**7 of intact patients a false alarm (0.955: 28 %; 0.98: 13 %). A Youden
#: threshold on validation gave candidate M7 level specificity 0.955 on fresh phantoms (session 42).
BALANCED_MIN_SPECIFICITY = 0.98


def rsna_weighted_log_loss(level_probs: np.ndarray, level_targets: np.ndarray, patient_probs: np.ndarray,
                           patient_targets: np.ndarray) -> float:
    """The RSNA 2022 competition metric.

    Per study, the weighted binary log loss over its eight targets (C1..C7 and patient_overall),
    divided by that study's sum of weights; then the mean over studies. Predictions are clipped
    to [1e-15, 1 - 1e-15].

    Args:
        level_probs: (N, 7) predicted probabilities, C1..C7.
        level_targets: (N, 7) 0/1 targets; -1 marks a level without a label (left out).
        patient_probs: (N,) patient-level probabilities.
        patient_targets: (N,) 0/1 patient targets.

    Returns:
        The mean weighted log loss (lower is better).
    """
    p = np.clip(np.asarray(level_probs, float), RSNA_CLIP, 1 - RSNA_CLIP)
    y = np.asarray(level_targets, float)
    pp = np.clip(np.asarray(patient_probs, float), RSNA_CLIP, 1 - RSNA_CLIP)
    yp = np.asarray(patient_targets, float)
    known = y >= 0
    w = np.where(y > 0, RSNA_LEVEL_WEIGHTS[1], RSNA_LEVEL_WEIGHTS[0]) * known
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * known
    wp = np.where(yp > 0, RSNA_PATIENT_WEIGHTS[1], RSNA_PATIENT_WEIGHTS[0])
    lp = -(yp * np.log(pp) + (1 - yp) * np.log(1 - pp))
    per_study = ((w * loss).sum(axis=1) + wp * lp) / (w.sum(axis=1) + wp)
    return float(per_study.mean())


def rsna_weighted_bce(level_logits: torch.Tensor, level_targets: torch.Tensor, patient_logit: torch.Tensor,
                      patient_target: torch.Tensor) -> torch.Tensor:
    """The RSNA metric of one study as a training loss, on logits (numerically stable).

    Args:
        level_logits: (P,) logits of the present levels.
        level_targets: (P,) 0/1 targets, -1 where unknown (weight 0).
        patient_logit: scalar logit.
        patient_target: scalar 0/1 target.

    Returns:
        Scalar loss: weighted BCE summed over the study's targets / the sum of its weights.
    """
    known = (level_targets >= 0).float()
    y = level_targets.clamp_min(0).float()
    w = torch.where(y > 0, RSNA_LEVEL_WEIGHTS[1], RSNA_LEVEL_WEIGHTS[0]) * known
    bce = torch.nn.functional.binary_cross_entropy_with_logits(level_logits, y, reduction="none")
    yp = patient_target.float()
    wp = torch.where(yp > 0, RSNA_PATIENT_WEIGHTS[1], RSNA_PATIENT_WEIGHTS[0])
    bp = torch.nn.functional.binary_cross_entropy_with_logits(patient_logit, yp)
    return ((w * bce).sum() + wp * bp) / (w.sum() + wp)


#: Positive weight of the fracture-region cells (they are a few per cent of a fractured ROI's cells).
REGION_POS_WEIGHT = 5.0


def fracture_region_bce(region_logits: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Dense auxiliary loss of the classifier: does each encoder cell hold part of a fracture?

    Args:
        region_logits: (P, z', y', x') logits of the region head, one per cell of the last map.
        region: (P, z, y, x) true fracture region on the ROI grid (0/1), sizes multiples of the cell.

    Returns:
        Mean binary cross-entropy over cells (positive cells weighted by :data:`REGION_POS_WEIGHT`);
        a cell is positive when any of its voxels is fractured.
    """
    target = F.adaptive_max_pool3d(region[:, None].float(), tuple(region_logits.shape[1:]))[:, 0]
    return F.binary_cross_entropy_with_logits(region_logits.float(), target,
                                              pos_weight=torch.tensor(REGION_POS_WEIGHT, device=target.device))


def roc_auc(targets: Sequence[float], probs: Sequence[float]) -> float | None:
    """Area under the ROC curve (MONAI), or None when only one class is present."""
    y, p = np.asarray(targets, float), np.asarray(probs, float)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(compute_roc_auc(torch.as_tensor(p), torch.as_tensor(y)))


def sensitivity_specificity(targets: Sequence[float], probs: Sequence[float],
                            threshold: float) -> tuple[float | None, float | None]:
    """Sensitivity and specificity of ``prob >= threshold`` (None where a class is empty)."""
    y, p = np.asarray(targets) > 0, np.asarray(probs, float) >= threshold
    sens = float((p & y).sum() / y.sum()) if y.any() else None
    spec = float((~p & ~y).sum() / (~y).sum()) if (~y).any() else None
    return sens, spec


def expected_calibration_error(targets: Sequence[float], probs: Sequence[float], bins: int = 10) -> float | None:
    """Expected calibration error over ``bins`` equal-width bins: Σ (n_b / N) |mean p_b − rate_b|.

    Binning is MONAI's ``calibration_binning``; the weighting by bin size is done here (MONAI's
    ``CalibrationErrorMetric`` averages per image, not over a pooled set of predictions).
    """
    y, p = np.asarray(targets, float), np.asarray(probs, float)
    if y.size == 0:
        return None
    return float(_ece_rows(y[None], p, bins)[0])


def ece_if_calibrated(targets: Sequence[float], probs: Sequence[float], bins: int = 10, draws: int = 1000,
                      seed: int = 0) -> dict[str, float] | None:
    """What the ECE of these probabilities would be if they were perfectly calibrated.

    On a few dozen cases the ECE is far from 0 even for a perfect model: each bin's observed rate
    is a small-sample estimate. Drawing the targets from the probabilities themselves
    (``y ~ Bernoulli(p)``, ``draws`` times, fixed ``seed``) gives that floor and how often it is
    at least the measured ECE (a p-value of "these probabilities are calibrated").

    Args:
        targets: 0/1 truth (N,).
        probs: predicted probabilities (N,).
        bins: as in :func:`expected_calibration_error`.
        draws: simulated target sets.
        seed: of the draws.

    Returns:
        ``expected`` (mean simulated ECE), ``q90`` (its 90th percentile) and ``p_value`` (share of
        draws with an ECE ≥ the measured one); None without predictions.
    """
    y, p = np.asarray(targets, float), np.asarray(probs, float)
    if y.size == 0:
        return None
    observed = _ece_rows(y[None], p, bins)[0]
    simulated = _ece_rows((np.random.default_rng(seed).random((draws, p.size)) < p).astype(float), p, bins)
    return {"expected": float(simulated.mean()), "q90": float(np.quantile(simulated, 0.9)),
            "p_value": float((simulated >= observed - 1e-12).mean())}


def _ece_rows(y: np.ndarray, p: np.ndarray, bins: int) -> np.ndarray:
    """The ECE of each row of targets ``y`` (D, N) against the same probabilities ``p`` (N,)."""
    pt = torch.as_tensor(p, dtype=torch.float64).expand(y.shape[0], p.size)[:, None]
    mean_p, mean_y, counts = calibration_binning(pt, torch.as_tensor(y, dtype=torch.float64)[:, None], num_bins=bins)
    mean_p, mean_y, counts = mean_p[:, 0].numpy(), mean_y[:, 0].numpy(), counts[:, 0].numpy()
    gap = np.where(counts > 0, np.abs(np.nan_to_num(mean_p) - np.nan_to_num(mean_y)), 0.0)
    return (counts / counts.sum(axis=1, keepdims=True) * gap).sum(axis=1)


def reliability_bins(targets: Sequence[float], probs: Sequence[float], bins: int = 10) -> dict[str, list]:
    """Per bin: mean predicted probability, observed rate and count (for a reliability diagram)."""
    y, p = np.asarray(targets, float), np.asarray(probs, float)
    mean_p, mean_y, counts = calibration_binning(torch.as_tensor(p)[None, None], torch.as_tensor(y)[None, None],
                                                 num_bins=bins)

    def clean(a: torch.Tensor) -> list:
        return [None if math.isnan(v) else round(float(v), 4) for v in a[0, 0].tolist()]

    return {"mean_probability": clean(mean_p), "observed_rate": clean(mean_y),
            "count": [int(c) for c in counts[0, 0].tolist()]}


def _fit_one_parameter(logits: Sequence[float], targets: Sequence[float],
                       link: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float | None:
    """The scalar u minimising the log loss of ``sigmoid(link(logits, u))`` from u = 0 (LBFGS);
    None when there are no logits or only one class."""
    z = torch.as_tensor(np.asarray(logits, float))
    y = torch.as_tensor(np.asarray(targets, float))
    if z.numel() == 0 or y.min() == y.max():
        return None
    u = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([u], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(link(z, u), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(u.item())


def fit_temperature(logits: Sequence[float], targets: Sequence[float]) -> float:
    """The temperature T > 0 minimising the log loss of ``sigmoid(logit / T)`` (LBFGS on log T).

    Args:
        logits: validation logits.
        targets: their 0/1 targets.

    Returns:
        T (1.0 when there are no logits or only one class).
    """
    log_t = _fit_one_parameter(logits, targets, lambda z, u: z / u.exp())
    return 1.0 if log_t is None else float(np.clip(np.exp(log_t), 0.05, 20.0))


def fit_logit_offset(logits: Sequence[float], targets: Sequence[float]) -> float:
    """The offset b minimising the log loss of ``sigmoid(logit + b)`` (one-parameter recalibration).

    Args:
        logits: calibrated logits of a subgroup (e.g. levels cut by the scan's edge).
        targets: their 0/1 targets.

    Returns:
        b (0.0 when there are no logits or only one class; clipped to ±5).
    """
    b = _fit_one_parameter(logits, targets, lambda z, u: z + u)
    return 0.0 if b is None else float(np.clip(b, -5.0, 5.0))


def operating_points(targets: Sequence[float], probs: Sequence[float],
                     triage_sensitivity: float = TRIAGE_SENSITIVITY,
                     min_specificity: float = BALANCED_MIN_SPECIFICITY) -> dict[str, float]:
    """Two thresholds on validation probabilities.

    Args:
        targets: 0/1 truth (n,).
        probs: probabilities (n,).
        triage_sensitivity: sensitivity the triage threshold keeps.
        min_specificity: specificity the balanced threshold keeps (0: plain maximum Youden J).

    Returns:
        ``balanced``: the threshold of maximum Youden J (sensitivity + specificity − 1) among those
        whose specificity is at least ``min_specificity`` (of all thresholds when none is);
        ``triage``: the highest threshold whose sensitivity is at least ``triage_sensitivity``.
        Both 0.5 when a class is missing.
    """
    y, p = np.asarray(targets) > 0, np.asarray(probs, float)
    if not y.any() or y.all():
        return {"balanced": 0.5, "triage": 0.5}
    candidates = np.unique(np.concatenate([p, [0.0]]))
    best_j, youden, best_kept_j, kept = -2.0, 0.5, -2.0, None
    triage = float(candidates.min())
    for t in candidates:
        sens, spec = sensitivity_specificity(y, p, float(t))
        if sens + spec - 1 > best_j:
            best_j, youden = sens + spec - 1, float(t)
        if spec >= min_specificity and sens + spec - 1 > best_kept_j:
            best_kept_j, kept = sens + spec - 1, float(t)
        if sens >= triage_sensitivity:
            triage = max(triage, float(t))
    return {"balanced": youden if kept is None else kept, "triage": triage}


__all__ = ["BALANCED_MIN_SPECIFICITY", "REGION_POS_WEIGHT", "ece_if_calibrated", "expected_calibration_error", "fit_logit_offset", "fit_temperature", "fracture_region_bce",
           "operating_points", "reliability_bins", "roc_auc", "rsna_weighted_bce", "rsna_weighted_log_loss",
           "sensitivity_specificity"]


def level_pairs(per_case: list[dict[str, Any]], level: str | None = None, kind: str | None = None,
                difficulty: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Targets and probabilities (n,) of the judged levels of an evaluation's ``per_case`` records.

    Levels without a target (-1, not in view) or without a probability (not found) are left out.

    Args:
        per_case: ``evaluate_classification``'s ``per_case`` list.
        level: only this level ("C1".."C7").
        kind: only fractured levels of this fracture kind (intact levels all kept).
        difficulty: only cases whose difficulty lies in [low, high).
    """
    y, p = [], []
    for c in per_case:
        if difficulty and not (c["difficulty"] is not None and difficulty[0] <= c["difficulty"] < difficulty[1]):
            continue
        for lv, e in c["levels"].items():
            if (level and lv != level) or e["target"] < 0 or e["probability"] is None:
                continue
            if kind and e["target"] == 1 and e["kind"] != kind:
                continue
            y.append(e["target"])
            p.append(e["probability"])
    return np.asarray(y), np.asarray(p)
