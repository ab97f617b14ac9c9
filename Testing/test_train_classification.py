"""train-cls: a tiny run lowers the loss and writes calibrated weights; RSNA layout with and without
masks; bad input; evaluate --task classification contract."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from SpineFractureLib.cli.main import main
from SpineFractureLib.data.cls_cases import ClsCache
from SpineFractureLib.data.labelled_dirs import list_classification_cases
from SpineFractureLib.errors import InputError
from SpineFractureLib.models.classifier_weights import load_classifier
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.train.classification import ClsTrainConfig, build_classifier, train_classifier

from conftest import TINY_CHANNELS


@pytest.fixture(scope="module")
def cls_config(tmp_path_factory, small_labelled_dir, tiny_model):
    folder = tmp_path_factory.mktemp("cls")
    return {"data": str(small_labelled_dir), "val_data": str(small_labelled_dir), "cache": str(folder / "cache"),
            "segmentation": str(tiny_model), "mask_source": "given", "channels": list(TINY_CHANNELS), "dim": 16,
            "device": "cpu", "out": str(folder / "run"),
            "loop": {"steps": 16, "lr": 0.003, "log_every": 4, "checkpoint_every": 8, "seed": 0}}


@pytest.fixture(scope="module")
def trained(cls_config):
    cfg = ClsTrainConfig.from_dict(cls_config)
    return train_classifier(cfg, lambda m: Segmenter(m, "cpu"), name="tiny-cls", version="0")


def test_tiny_training_lowers_the_loss_and_writes_calibrated_weights(trained):
    assert trained["steps"] == 16 and trained["last_loss"] < trained["first_loss"]
    loaded = load_classifier(trained["model"])
    assert loaded.info.name == "tiny-cls" and loaded.info.trained_on == "synthetic phantoms"
    assert loaded.inputs == {"windows": 3, "fracture_input": True, "mask_source": "given"}
    cal = loaded.calibration
    assert cal.level_temperature > 0 and cal.validation["cases"] == 2
    for point in ("balanced", "triage"):
        assert 0.0 <= cal.threshold(point, "level") <= 1.0 and 0.0 <= cal.threshold(point, "patient") <= 1.0


def test_resume_continues_to_more_steps(cls_config, trained, tmp_path):
    cfg = ClsTrainConfig.from_dict(cls_config | {"out": str(tmp_path)}, steps=18)
    summary = train_classifier(cfg, lambda m: Segmenter(m, "cpu"), resume=trained["checkpoint"])
    assert summary["steps"] == 18


def test_finetune_starts_from_the_whole_given_classifier(cls_config, trained):
    start = load_classifier(trained["model"]).network.state_dict()
    net = build_classifier(ClsTrainConfig.from_dict(cls_config | {"finetune": trained["model"], "init": "none"}))
    got = net.state_dict()
    assert set(got) == set(start)
    assert all(torch.equal(got[k], start[k]) for k in start)  # every layer, heads and GRU included
    fresh = build_classifier(ClsTrainConfig.from_dict(cls_config | {"init": "none"})).state_dict()
    assert not torch.equal(fresh["level_head.weight"], start["level_head.weight"])


@pytest.mark.parametrize("change", [{"dim": 8}, {"context": "none"}])
def test_finetune_refuses_weights_of_another_network(cls_config, trained, change):
    with pytest.raises(InputError, match="differs from the configuration's in"):
        build_classifier(ClsTrainConfig.from_dict(cls_config | {"finetune": trained["model"]} | change))


@pytest.mark.parametrize("change", [{"fracture_input": False}, {"windows": 1}])
def test_finetune_may_leave_out_an_input_the_start_network_read(cls_config, trained, change):
    start = load_classifier(trained["model"]).network.state_dict()
    got = build_classifier(ClsTrainConfig.from_dict(cls_config | {"finetune": trained["model"]} | change)).state_dict()
    assert all(torch.equal(got[k], start[k]) for k in start)  # the same weights; the channel reads zeros


@pytest.mark.parametrize("inputs, change", [({"fracture_input": False}, {}), ({"windows": 1}, {"windows": 3})])
def test_finetune_refuses_to_add_an_input_the_start_network_never_read(cls_config, trained, tmp_path, inputs, change):
    from SpineFractureLib.models.classifier_weights import save_classifier

    loaded = load_classifier(trained["model"])
    without = tmp_path / "without.pt"
    save_classifier(without, loaded.network, inputs=loaded.inputs | inputs, calibration=loaded.calibration,
                    name="tiny-cls", version="0", trained_on="synthetic phantoms")
    with pytest.raises(InputError, match="differs from the configuration's in"):
        build_classifier(ClsTrainConfig.from_dict(cls_config | {"finetune": str(without)} | change))


def test_phantom_sets_of_training_and_validation(tmp_path):
    from SpineFractureLib.data.phantom import PhantomConfig
    from SpineFractureLib.data.phantom_loaders import config_tag
    from SpineFractureLib.train.classification import case_cache

    cfg = ClsTrainConfig.from_dict({"phantom_seeds": [7, 2], "val_phantom_seeds": [9, 1], "cache": str(tmp_path),
                                    "phantom_config": {"anatomy": "mesh"},
                                    "extra_phantoms": [{"seeds": [7, 1], "config": {}}]})
    mesh, procedural = config_tag(PhantomConfig(anatomy="mesh")), config_tag(PhantomConfig())
    assert mesh != procedural

    def no_segmenter(model):
        raise AssertionError("listing cases must not segment")

    train = case_cache(None, cfg.phantom_sets(), cfg, no_segmenter)
    assert [k for k, _ in train.loaders] == [f"phantom-7-{mesh}", f"phantom-8-{mesh}", f"phantom-7-{procedural}"]
    val = case_cache(None, cfg.val_phantom_sets(), cfg, no_segmenter)
    assert [k for k, _ in val.loaders] == [f"phantom-9-{mesh}"]  # validated on the training phantoms' kind
    assert ClsTrainConfig.from_dict(cfg.to_dict()).phantom_sets() == cfg.phantom_sets()
    with pytest.raises(ValueError, match="anatomy"):
        ClsTrainConfig.from_dict({"phantom_config": {"anatomy": "boxes"}})
    with pytest.raises(ValueError, match="extra_phantoms"):
        ClsTrainConfig.from_dict({"extra_phantoms": [{"seeds": [1, 2], "cfg": {}}]})


def test_evaluate_classification_contract(trained, cls_config, small_labelled_dir, tmp_path, capsys):
    sub, png, out = tmp_path / "sub.csv", tmp_path / "rel.png", tmp_path / "m.json"
    code = main(["evaluate", "--task", "classification", "--data", str(small_labelled_dir), "--model",
                 trained["model"], "--segmentation", cls_config["segmentation"], "--cache", cls_config["cache"],
                 "--device", "cpu", "--json", "--out", str(out), "--submission", str(sub), "--reliability", str(png)])
    assert code == 0
    m = json.loads(capsys.readouterr().out)
    assert m == json.loads(out.read_text())
    assert set(m["auc"]) == {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "macro", "pooled", "patient"}
    assert set(m["operating_points"]) == {"balanced", "triage"} and m["cases"] == 2
    assert m["rsna_log_loss"] > 0 and m["model"]["name"] == "tiny-cls"
    floor = m["ece_if_calibrated"]["level"]
    assert set(floor) == {"expected", "q90", "p_value"} and 0 < floor["expected"] <= floor["q90"] < 1
    rows = list(csv.DictReader(sub.open()))
    assert [r["row_id"].rsplit("_", 1)[1] for r in rows[:8]] == ["C1", "C2", "C3", "C4", "C5", "C6", "C7",
                                                                "overall"]
    assert all(0.0 <= float(r["fractured"]) <= 1.0 for r in rows) and len(rows) == 16
    assert png.stat().st_size > 10_000


def test_evaluate_without_gradcam_gives_the_same_probabilities_and_no_pointing(trained, cls_config,
                                                                              small_labelled_dir, capsys):
    args = ["evaluate", "--task", "classification", "--data", str(small_labelled_dir), "--model", trained["model"],
            "--segmentation", cls_config["segmentation"], "--cache", cls_config["cache"], "--device", "cpu", "--json"]
    assert main(args) == 0
    with_cam = json.loads(capsys.readouterr().out)
    assert main(args + ["--no-gradcam"]) == 0
    without = json.loads(capsys.readouterr().out)
    assert without["gradcam_pointing_rate"] is None and without["gradcam_true_positives"] == 0
    assert [c["levels"] for c in without["per_case"]] == [
        {lv: e | {"pointing": None} for lv, e in c["levels"].items()} for c in with_cam["per_case"]]


def test_rsna_layout_with_and_without_masks(tmp_path, tiny_model):
    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
    from SpineFractureLib.data.rsna import segmentation_path
    from SpineFractureLib.data.rsna_write import study_uid_for, write_rsna_dataset

    cfg = PhantomConfig(size_xyz=(64, 64, 90), spacing=(1.6, 1.6, 2.0), streak_probability=0.0, pose=False,
                        fracture_rate=1.0)
    cases = [make_phantom(s, cfg) for s in (21, 22)]
    root = tmp_path / "rsna"
    write_rsna_dataset(cases, root)
    segmentation_path(root, study_uid_for(cases[1].case_id)).unlink()  # the second study has no mask
    loaders = list_classification_cases(root)
    assert len(loaders) == 2
    cache = ClsCache(loaders, tmp_path / "cache", lambda: Segmenter(str(tiny_model), "cpu"))
    by_uid = {cache[i].case_id: cache[i] for i in range(2)}
    masked, unmasked = by_uid[study_uid_for(cases[0].case_id)], by_uid[study_uid_for(cases[1].case_id)]
    assert masked.given is not None and masked.given.max() > 0
    assert unmasked.given is None and unmasked.predicted.shape == unmasked.hu.shape
    for case, sample in ((cases[0], masked), (cases[1], unmasked)):  # labels from train.csv
        want = [int(case.truth["levels"][lv]["fractured"]) for lv in ("C1", "C2", "C3", "C4", "C5", "C6", "C7")]
        assert [max(v, 0) for v in sample.fractured.tolist()] == want
    assert unmasked.labels("given") is unmasked.predicted  # no drawn mask: the predicted one is used
    # The cache gives the same sample back without segmenting again.
    again = ClsCache(loaders, tmp_path / "cache", lambda: pytest.fail("segmented a cached case"))
    np.testing.assert_array_equal(again[0].hu, cache[0].hu)
    # A case is named by its loader key whether it was prepared now or read back.
    renamed = ClsCache([("renamed-" + key, load) for key, load in loaders], tmp_path / "cache2",
                       lambda: Segmenter(str(tiny_model), "cpu"))
    prepared, read_back = renamed[0], renamed[0]  # the first call segments, the second reads the cache
    assert prepared.case_id == read_back.case_id == "renamed-" + loaders[0][0]


def test_rsna_train_csv_naming_absent_studies_is_refused(tmp_path):
    root = tmp_path / "rsna"
    root.mkdir()
    (root / "train.csv").write_text("StudyInstanceUID,patient_overall,C1,C2,C3,C4,C5,C6,C7\n1.2.3,1,0,1,0,0,0,0,0\n")
    with pytest.raises(InputError, match="absent from train_images"):
        list_classification_cases(root)
    (root / "train.csv").write_text("StudyInstanceUID,patient_overall,C1\n1.2.3,1,0\n")
    with pytest.raises(InputError, match="missing column"):
        list_classification_cases(root)


def test_train_cls_bad_input_exits_2_and_writes_nothing(tmp_path, small_labelled_dir, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    assert main(["train-cls", "--data", str(empty), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "no labelled cases" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["train-cls", "--context", "lstm", "--out", str(out)]) == 2
    assert "context" in capsys.readouterr().err
    assert main(["train-cls", "--region-evidence", "--region-weight", "0", "--out", str(out)]) == 2
    assert "region_evidence" in capsys.readouterr().err and not out.exists()
    # case folders whose truth has no per-level fracture labels
    unlabelled = tmp_path / "nolabels"
    shutil.copytree(small_labelled_dir / "case11", unlabelled / "case11")
    (unlabelled / "case11" / "truth.json").write_text(json.dumps({"case_id": "case11"}))
    assert main(["train-cls", "--data", str(unlabelled), "--val-data", str(unlabelled), "--out", str(out),
                 "--device", "cpu", "--mask-source", "given", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "no per-level fracture labels" in err and str(unlabelled) in err


def test_weights_record_the_cancellous_range_of_the_phantoms_they_learnt_from(cls_config, trained, tmp_path):
    from SpineFractureLib.models.classifier_weights import CANCELLOUS_KEY, save_classifier
    from SpineFractureLib.train.classification import trained_bone_meta

    assert load_classifier(trained["model"]).cancellous_hu is None  # a labelled folder: density not known
    phantoms = {"phantom_seeds": [7, 2], "val_phantom_seeds": [9, 1], "cache": str(tmp_path)}
    assert trained_bone_meta(ClsTrainConfig.from_dict(phantoms)) == {CANCELLOUS_KEY: [170.0, 380.0]}
    wide = phantoms | {"extra_phantoms": [{"seeds": [20, 1], "config": {"cancellous_hu": [60, 550]}}]}
    assert trained_bone_meta(ClsTrainConfig.from_dict(wide)) == {CANCELLOUS_KEY: [60.0, 550.0]}
    loaded = load_classifier(trained["model"])
    start = tmp_path / "porotic.pt"
    save_classifier(start, loaded.network, inputs=loaded.inputs, calibration=loaded.calibration, name="tiny-cls",
                    version="0", trained_on="synthetic phantoms", extra_meta={CANCELLOUS_KEY: [80, 170]})
    assert load_classifier(str(start)).cancellous_hu == (80.0, 170.0)
    finetuned = phantoms | {"finetune": str(start)}  # what the start network saw counts too
    assert trained_bone_meta(ClsTrainConfig.from_dict(finetuned)) == {CANCELLOUS_KEY: [80.0, 380.0]}
    assert trained_bone_meta(ClsTrainConfig.from_dict(cls_config)) == {}
