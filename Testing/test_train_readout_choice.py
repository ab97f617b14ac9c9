"""readout_choice: the readout with the best validation AUC is chosen, ties go to the simplest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from SpineFractureLib.models.classifier import FractureClassifier
from SpineFractureLib.models.classifier_weights import Calibration, load_classifier, save_classifier

from SpineFractureLib.metrics.classification import fit_logit_offset, operating_points, sensitivity_specificity
from SpineFractureLib.train.readout_choice import (MIN_CUT_LEVELS_PER_CLASS, choose_readout, fit_cut_bias, fit_readout,
                                                   fit_thresholds, macro_level_auc, per_level_auc, readout_scores,
                                                   refit_temperature)

ROOT = Path(__file__).resolve().parents[1]


def _cases(seed: int = 0, head_informative: bool = False, flip_helps: bool = False) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(60):
        levels = np.arange(7)
        targets = (rng.random(7) < 0.15).astype(int)
        signal = 2.0 * targets - 1.0
        z = signal + rng.normal(0, 1.5, 7)
        # the mirror sees the same signal with independent noise: averaging helps when flip_helps
        zf = signal + rng.normal(0, 1.5, 7) if flip_helps else z.copy()
        patient = int(targets.any())
        head = (2.0 * patient - 1.0) * 3 + rng.normal(0, 0.5) if head_informative else rng.normal(0, 1.0)
        out.append({"levels": levels, "targets": targets, "level_logits": z, "level_logits_flip": zf,
                    "patient_logit": head, "patient_logit_flip": head, "patient": patient})
    return out


def test_an_uninformative_patient_head_loses_to_the_levels():
    cal = choose_readout(_cases(), {"source": "toy"})
    assert cal.patient_source != "head"
    assert cal.flip_average is False  # identical mirror logits: a tie, the plain readout
    assert set(cal.validation["readout_choice"]) >= {"flip=False", "patient=head", "patient=noisy_or"}
    assert 0.0 < cal.thresholds["triage"]["patient"] <= cal.thresholds["balanced"]["patient"] <= 1.0


def test_an_informative_head_and_a_useful_mirror_are_chosen():
    cases = _cases(1, head_informative=True, flip_helps=True)
    cal = choose_readout(cases, {"source": "toy"})
    assert cal.patient_source == "head" and cal.flip_average is True
    plain = fit_readout(cases, False, "head", {})
    assert macro_level_auc(cases, cal) > macro_level_auc(cases, plain)
    probs, targets, patient = readout_scores(cases, cal)
    assert len(probs) == len(cases) and patient.shape == (len(cases),)


def test_per_level_auc_skips_a_level_without_fractures():
    cases = _cases(2)
    for c in cases:
        c["targets"] = c["targets"].copy()
        c["targets"][6] = 0  # no fractured C7 anywhere: its AUC is undefined
    cal = fit_readout(cases, False, "head", {})
    aucs = per_level_auc(cases, cal)
    assert len(aucs) == 7 and aucs[6] is None and all(0.0 <= a <= 1.0 for a in aucs[:6])
    assert macro_level_auc(cases, cal) == np.mean(aucs[:6])


def test_noisy_or_gets_a_temperature_where_clustered_levels_overstate_it():
    # fractures come three adjacent levels at a time: the product of per-level odds counts one
    # patient's evidence three times, so the fitted patient temperature exceeds 1
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(200):
        targets = np.zeros(7, int)
        if rng.random() < 0.4:
            first = rng.integers(0, 5)
            targets[first:first + 3] = 1
        z = 1.2 * (2.0 * targets - 1.0) + rng.normal(0, 1.0, 7)
        cases.append({"levels": np.arange(7), "targets": targets, "level_logits": z, "level_logits_flip": z,
                      "patient_logit": 0.0, "patient_logit_flip": 0.0, "patient": int(targets.any())})
    cal = fit_readout(cases, False, "noisy_or", {})
    assert cal.patient_temperature > 1.1
    py = np.array([c["patient"] for c in cases])
    scaled = readout_scores(cases, cal)[2]
    cal.patient_temperature = 1.0
    plain = readout_scores(cases, cal)[2]

    def log_loss(p):
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -np.mean(py * np.log(p) + (1 - py) * np.log(1 - p))

    assert log_loss(scaled) < log_loss(plain)


def test_thresholds_fitted_on_typical_patients_alone_keep_their_sensitivity():
    """A pool whose extra set has intact levels that look fractured (porotic phantoms) pushes the
    specificity floor's threshold up; fitted on the typical set alone it keeps that set's sensitivity."""
    typical = _cases(2)
    porotic = _cases(3)
    for c in porotic:  # intact levels raised towards the fractured ones
        c["level_logits"] = np.where(c["targets"] == 0, c["level_logits"] + 2.0, c["level_logits"])
        c["level_logits_flip"] = c["level_logits"].copy()
    pooled = fit_readout(typical + porotic, False, "max_level", {})
    alone = fit_thresholds(fit_readout(typical + porotic, False, "max_level", {}), typical)
    assert alone.level_temperature == pooled.level_temperature  # only the operating points move
    t_pool, t_alone = pooled.thresholds["balanced"]["level"], alone.thresholds["balanced"]["level"]
    assert t_alone < t_pool
    probs, targets, _ = readout_scores(typical, alone)
    y, p = np.concatenate(targets), np.concatenate(probs)
    sens_alone, spec_alone = sensitivity_specificity(y, p, t_alone)
    sens_pool, _ = sensitivity_specificity(y, p, t_pool)
    assert spec_alone >= 0.98 and sens_alone > sens_pool


def test_the_patient_threshold_is_the_plain_youden_point():
    """The level threshold keeps the specificity floor; the patient threshold, one decision per
    patient, is the plain best Youden J (the floor would trade patient sensitivity for it)."""
    cases = _cases(4)
    cal = fit_readout(cases, False, "noisy_or", {})
    py = np.array([c["patient"] for c in cases])
    patient_p = readout_scores(cases, cal)[2]
    plain = operating_points(py, patient_p, min_specificity=0.0)["balanced"]
    floored = operating_points(py, patient_p)["balanced"]
    assert plain != floored  # this draw's Youden point is below the floor
    assert cal.thresholds["balanced"]["patient"] == round(plain, 6)


def _cut_rows(rng: np.random.Generator, end: str, n: int, shift: float, applied: float = 0.0) -> list[dict]:
    """Cut-level records whose probabilities read ``shift`` too high in logit (plus ``applied`` already given)."""
    t = (rng.random(n) < 0.3).astype(int)
    true_logit = np.where(t == 1, 1.0, -3.0) + rng.normal(0, 1.0, n)
    # the targets are drawn from the true logit, so the well-calibrated offset is -shift
    t = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    p = 1 / (1 + np.exp(-(true_logit + shift + applied)))
    return [{"end": end, "target": int(a), "cut": float(b), "applied_bias": applied} for a, b in zip(t, p)]


def test_the_cut_offset_undoes_a_shift_and_counts_what_was_already_applied():
    rng = np.random.default_rng(3)
    rows = _cut_rows(rng, "bottom", 4000, shift=1.2) + _cut_rows(rng, "top", 4000, shift=0.0, applied=-0.7)
    rows += [{"end": "bottom", "target": 0, "cut": None}, {"end": "top", "target": -1, "cut": 0.9}]  # left out
    bias = fit_cut_bias(rows)
    assert bias["bottom"] == pytest.approx(-1.2, abs=0.15)
    assert bias["top"] == pytest.approx(0.0, abs=0.15)  # the -0.7 already applied is taken off first


def test_an_end_with_too_few_fractured_cut_levels_gets_no_offset():
    rows = [{"end": "bottom", "target": int(i < MIN_CUT_LEVELS_PER_CLASS - 1), "cut": 0.5} for i in range(40)]
    assert fit_cut_bias(rows) == {}
    assert fit_logit_offset([0.0, 1.0], [1, 1]) == 0.0  # one class: nothing to fit


def test_cls_cut_bias_writes_the_offsets_into_a_copy_of_the_weights(tmp_path):
    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=True, pool="mean_max")
    save_classifier(tmp_path / "m.pt", net, inputs={"windows": 3}, calibration=Calibration(level_temperature=1.3),
                    name="tiny", version="1", trained_on="nothing (a test)", extra_meta={"segmentation": "S"})
    rows = _cut_rows(np.random.default_rng(4), "bottom", 400, shift=1.5)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    script = [sys.executable, str(ROOT / "benchmarks" / "cls_cut_bias.py"), "--model", str(tmp_path / "m.pt")]
    run = subprocess.run([*script, "--rows", str(tmp_path / "rows.json"), "--write-weights", str(tmp_path / "c.pt"),
                          "--version", "1.1", "--rows-from", "toy rows"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["validation_after"]["bottom"]["intact_called"] < report["validation_before"]["bottom"]["intact_called"]
    written = load_classifier(str(tmp_path / "c.pt"))
    assert written.calibration.cut_level_bias == pytest.approx(report["cut_level_bias"])
    assert written.calibration.cut_level_bias["bottom"] < -1.0 and written.calibration.level_temperature == 1.3
    assert written.info.version == "1.1"
    meta = torch.load(tmp_path / "c.pt", weights_only=True)["meta"]
    assert meta["segmentation"] == "S" and "toy rows" in meta["cut_level_bias_from"]
    (tmp_path / "bad.json").write_text(json.dumps({"rows": []}))
    bad = subprocess.run([*script, "--rows", str(tmp_path / "bad.json")], capture_output=True, text=True)
    assert bad.returncode == 2 and "bad.json: not a list of cls_fov_cut.py records" in bad.stderr


def _overconfident_patients(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Patient probabilities whose logits are twice what the truth's are (0/1 targets drawn from the truth)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 1 / (1 + np.exp(-2.0 * z)), y


@pytest.mark.parametrize("target", ["patient", "level"])
def test_a_temperature_refit_calibrates_and_calls_everything_as_before(target):
    from SpineFractureLib.metrics.classification import expected_calibration_error

    p, y = _overconfident_patients(5, 3000)
    cal = Calibration(level_temperature=1.3, patient_temperature=1.5, patient_source="mean_head_max",
                      thresholds={"balanced": {"level": 0.3, "patient": 0.4}, "triage": {"level": 0.1, "patient": 0.2}})
    new = refit_temperature(cal, target, p, y, "toy data")
    other = "level" if target == "patient" else "patient"
    factor = getattr(new, f"{target}_temperature") / getattr(cal, f"{target}_temperature")
    assert factor == pytest.approx(2.0, rel=0.1)
    q = 1 / (1 + np.exp(-np.log(p / (1 - p)) / factor))  # what the new weights show
    assert expected_calibration_error(y, q) < 0.5 * expected_calibration_error(y, p)
    for point in ("balanced", "triage"):
        assert np.array_equal(p >= cal.threshold(point, target), q >= new.threshold(point, target))
        assert new.threshold(point, other) == cal.threshold(point, other)
    assert getattr(new, f"{other}_temperature") == getattr(cal, f"{other}_temperature")
    assert (cal.level_temperature, cal.patient_temperature) == (1.3, 1.5)  # the source is untouched
    assert new.validation[f"{target}_temperature_refit"][f"{target}s"] == 3000


def test_a_level_refit_refuses_readouts_that_read_the_level_temperature():
    p, y = _overconfident_patients(5, 100)
    with pytest.raises(ValueError, match="noisy-OR"):
        refit_temperature(Calibration(patient_source="noisy_or"), "level", p, y)
    with pytest.raises(ValueError, match="cut-level offsets"):
        refit_temperature(Calibration(cut_level_bias={"bottom": -1.0}), "level", p, y)
    with pytest.raises(ValueError, match="target"):
        refit_temperature(Calibration(), "levels", p, y)


def _evaluation(p: np.ndarray, y: np.ndarray, sha256: str) -> dict:
    """A minimal ``evaluate --task classification --json`` output (one level per patient)."""
    per_case = []
    for i, (pi, yi) in enumerate(zip(p, y)):
        levels = {lv: {"target": -1, "probability": None, "kind": None, "pointing": None, "peak_pointing": None}
                  for lv in ("C1", "C2", "C3", "C4", "C5", "C6", "C7")}
        levels["C5"] = {"target": int(yi), "probability": float(pi), "kind": "break" if yi else None,
                        "pointing": None, "peak_pointing": None}
        levels["C6"] = {"target": 0, "probability": float(pi) / 4, "kind": None, "pointing": None, "peak_pointing": None}
        per_case.append({"case": f"toy-{i}", "difficulty": 0.5, "patient": int(yi), "patient_probability": float(pi),
                         "levels": levels, "fracture_region_dice": None})
    return {"model": {"sha256": sha256}, "data": "toy phantoms", "per_case": per_case}


def test_cls_refit_temperatures_writes_the_refit_into_a_copy_of_the_weights(tmp_path):
    from SpineFractureLib.models.registry import sha256_of

    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=True, pool="mean_max")
    save_classifier(tmp_path / "m.pt", net, inputs={"windows": 3}, calibration=Calibration(patient_temperature=1.5),
                    name="tiny", version="1", trained_on="nothing (a test)")
    sha = sha256_of(tmp_path / "m.pt")
    for name, seed in (("val", 6), ("test", 7)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_evaluation(*_overconfident_patients(seed, 400), sha)))
    script = [sys.executable, str(ROOT / "benchmarks" / "cls_refit_temperatures.py"), "--model", str(tmp_path / "m.pt")]
    run = subprocess.run([*script, "--val", str(tmp_path / "val.json"), "--test", str(tmp_path / "test.json"),
                          "--write-weights", str(tmp_path / "c.pt"), "--version", "1.1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    test = json.loads(run.stdout)["files"][str(tmp_path / "test.json")]
    assert test["role"] == "test" and test["after"]["patient_ece"] < test["before"]["patient_ece"]
    for k in ("patient_auc", "macro_auc", "patient_sensitivity", "patient_specificity", "sensitivity", "specificity"):
        assert test["after"][k] == test["before"][k]
    written = load_classifier(str(tmp_path / "c.pt"))
    assert written.calibration.patient_temperature == pytest.approx(3.0, rel=0.15) and written.info.version == "1.1"
    assert written.calibration.level_temperature != 1.0  # both refitted by default
    (tmp_path / "other.json").write_text(json.dumps(_evaluation(*_overconfident_patients(8, 50), "0" * 64)))
    bad = subprocess.run([*script, "--val", str(tmp_path / "other.json")], capture_output=True, text=True)
    assert bad.returncode == 2 and "other.json: made with other weights" in bad.stderr
