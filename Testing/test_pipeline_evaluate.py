"""Segmenter and `evaluate`: contract keys, metric arithmetic, errors, overlay picture."""

from __future__ import annotations

import json

import numpy as np
import pytest

from SpineFractureLib.cli.main import main
from SpineFractureLib.pipeline.evaluate import summarise
from SpineFractureLib.metrics.segmentation import dice_per_level, level_agreement
from SpineFractureLib.volume import CTVolume


def test_dice_and_level_agreement_arithmetic():
    truth = np.zeros((20, 6, 6), np.uint8)
    truth[2:8] = 2
    truth[10:16] = 1
    pred = truth.copy()
    pred[2:5] = 0  # half of C2 missed
    d = dice_per_level(pred, truth)
    assert d["C1"] == 1.0 and d["C2"] == pytest.approx(2 * 108 / (216 + 108)) and d["C3"] is None
    vol = CTVolume(truth, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    agree = level_agreement(vol.with_array(pred), vol)
    assert agree["C1"]["identified"] and agree["C1"]["centroid_error_mm"] == 0.0
    assert agree["C2"]["centroid_error_mm"] == pytest.approx(1.5) and agree["C2"]["identified"]
    swapped = np.where(truth == 1, 2, np.where(truth == 2, 1, 0)).astype(np.uint8)
    agree = level_agreement(vol.with_array(swapped), vol)
    # 8 mm apart: within the 10 mm identification distance, though Dice is 0
    assert agree["C1"]["dice"] == 0.0 and agree["C1"]["identified"]
    far = np.zeros((40, 6, 6), np.uint8)
    far[2:8], far[30:36] = 2, 1
    far_vol = CTVolume(far, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    far_swapped = np.where(far == 1, 2, np.where(far == 2, 1, 0)).astype(np.uint8)
    agree = level_agreement(far_vol.with_array(far_swapped), far_vol)
    assert not agree["C1"]["identified"] and agree["C1"]["centroid_error_mm"] == pytest.approx(28.0)
    summary = summarise([{"levels": agree}], [2.0])
    assert summary["dice"]["mean"] == 0.0 and summary["seconds_per_case"] == 2.0
    assert summary["invented_levels"] == 0 and summary["levels_present"] == 2


def test_levels_reported_where_the_truth_has_none_count_as_invented_unless_cut_by_the_edge():
    truth = np.zeros((40, 6, 6), np.uint8)
    truth[10:16] = 7  # a chest CT whose top holds C7
    pred = truth.copy()
    pred[20:26] = 6  # a "C6" in the chest
    pred[30:36] = 5  # a "C5"
    vol = CTVolume(truth, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    agree = level_agreement(vol.with_array(pred), vol)
    assert agree["C6"]["reported"] and not agree["C6"]["present"] and not agree["C1"]["reported"]
    summary = summarise([{"levels": agree}, {"levels": agree, "partly_in_view": ["C5"]}], [1.0, 1.0])
    assert summary["invented_levels"] == 3 and summary["cases_with_invented_levels"] == 2
    assert summary["dice"]["C7"] == 1.0 and summary["identification_rate"] == 1.0


def test_evaluate_cli_json_contract(tiny_model, small_labelled_dir, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    code = main(["evaluate", "--data", str(small_labelled_dir), "--model", str(tiny_model),
                 "--device", "cpu", "--json", "--out", str(out)])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads(out.read_text())
    assert set(metrics["dice"]) == {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "mean"}
    assert set(metrics["centroid_error_mm"]) == set(metrics["dice"])
    assert metrics["cases"] == 2 and metrics["seconds_per_case"] > 0
    assert 0.0 <= metrics["identification_rate"] <= 1.0
    assert len(metrics["model"]["sha256"]) == 64
    assert all(0.0 <= v <= 1.0 for v in metrics["dice"].values() if v is not None)


def test_evaluate_cli_on_mesh_anatomy_phantoms(tiny_model, tmp_path, capsys):
    from SpineFractureLib.data.phantom import PhantomConfig
    from SpineFractureLib.data.phantom_loaders import config_tag

    code = main(["evaluate", "--phantoms", "1", "--seed", "900500", "--anatomy", "mesh", "--model", str(tiny_model),
                 "--device", "cpu", "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["per_case"][0]["case"] == f"phantom-900500-{config_tag(PhantomConfig(anatomy='mesh'))}"
    assert config_tag(PhantomConfig(anatomy="mesh")) != config_tag(PhantomConfig())


def test_evaluate_cli_on_a_field_of_view_without_a_cervical_spine(tiny_model, capsys):
    from SpineFractureLib.data.phantom import PhantomConfig
    from SpineFractureLib.data.phantom_loaders import config_tag

    code = main(["evaluate", "--phantoms", "1", "--seed", "900600", "--fov", "abdomen", "--contrast", "venous",
                 "--model", str(tiny_model), "--device", "cpu", "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    tag = config_tag(PhantomConfig(fov="abdomen", contrast="venous"))
    assert metrics["per_case"][0]["case"] == f"phantom-900600-{tag}"
    assert metrics["levels_present"] == 0 and metrics["dice"]["mean"] is None
    assert metrics["invented_levels"] == sum(v["reported"] for v in metrics["per_case"][0]["levels"].values())


def test_evaluate_cli_bad_input(tmp_path, capsys):
    assert main(["evaluate", "--phantoms", "2", "--data", str(tmp_path)]) == 2
    assert main(["evaluate", "--phantoms", "1", "--anatomy", "boxes"]) == 2
    assert main(["evaluate", "--phantoms", "1", "--fov", "pelvis"]) == 2
    assert main(["evaluate", "--phantoms", "1", "--contrast", "portal"]) == 2
    assert main(["evaluate", "--data", str(tmp_path), "--model", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert "none.pt" in err and "Traceback" not in err


def test_segmenter_output_on_input_grid_and_overlay(tiny_model, small_labelled_dir, tmp_path):
    from SpineFractureLib.data.case_io import read_case
    from SpineFractureLib.pipeline.segment import Segmenter
    from SpineFractureLib.preprocess.crop import field_of_view
    from SpineFractureLib.report.overlay import save_sagittal_overlay

    case = read_case(small_labelled_dir / "case11")
    result = Segmenter(str(tiny_model), "cpu").segment(case.ct, progress=lambda f, m: None)
    assert result.labels.same_grid(case.ct) and result.labels.array.dtype == np.uint8
    assert result.crop_probabilities.shape[0] == 8
    np.testing.assert_allclose(result.crop_probabilities.sum(axis=0), 1.0, atol=1e-4)
    assert set(result.timings_s) == {"crop", "levels", "vertebra", "postprocess", "resample"}
    # The box reaches past this small scan; nothing is found where nothing was scanned.
    outside = ~field_of_view(case.ct, result.crop_hu)
    assert outside.any()
    assert np.all(result.crop_probabilities[0][outside] == 1.0) and np.all(result.crop_fracture[outside] == 0.0)
    assert np.all(result.crop_labels.array[outside] == 0)
    png = tmp_path / "overlay.png"
    save_sagittal_overlay(case.ct, case.labels.with_array(case.cervical_labels()), png, title="phantom 11")
    assert png.stat().st_size > 10_000
