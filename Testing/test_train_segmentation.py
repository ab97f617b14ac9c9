"""Training: config, a tiny run lowers the loss, checkpoints and resume, MAE transfer, DDP on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from SpineFractureLib.errors import InputError
from SpineFractureLib.models.checkpoint import load_checkpoint
from SpineFractureLib.train.segmentation import TrainConfig, geometry_weight_at, pretrain_mae, train_segmentation


def test_config_from_file_overrides_and_rejects_unknown_keys(tiny_config, tmp_path):
    cfg = TrainConfig.from_file(tiny_config, steps=7, out=str(tmp_path))
    assert cfg.loop.steps == 7 and cfg.out == str(tmp_path) and cfg.patch_zyx == (48, 48, 48)
    assert TrainConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    with pytest.raises(ValueError):
        TrainConfig.from_dict({"patch": [1, 2, 3]})
    with pytest.raises(ValueError, match="stage"):
        TrainConfig.from_dict({"stage": "whole"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError):
        TrainConfig.from_file(bad)


def test_geometry_term_starts_late_and_ramps_in():
    cfg = TrainConfig.from_dict({"geometry_weight": 0.5, "geometry_start": 0.5, "loop": {"steps": 100}})
    weights = [geometry_weight_at(s, cfg) for s in range(100)]
    assert weights[:50] == [0.0] * 50
    assert 0 < weights[50] < weights[55] < 0.5 and weights[59:] == [0.5] * 41
    assert TrainConfig().geometry_start == 0.5
    always = TrainConfig.from_dict({"geometry_weight": 0.5, "geometry_start": 0.0, "loop": {"steps": 100}})
    assert geometry_weight_at(0, always) == 0.5
    with pytest.raises(ValueError, match="geometry_start"):
        TrainConfig.from_dict({"geometry_start": 1.0})


@pytest.mark.parametrize("stage", ["vertebra", "levels"])
def test_tiny_training_lowers_the_loss(tiny_config, tmp_path, stage):
    # One objective throughout (the geometry term on from step 0), so first and last losses compare.
    cfg = TrainConfig.from_file(tiny_config, out=str(tmp_path / "run"), steps=40, log_every=10,
                                checkpoint_every=40, stage=stage, geometry_start=0.0)
    summary = train_segmentation(cfg)
    assert summary["steps"] == 40
    assert summary["last_loss"] < 0.95 * summary["first_loss"], summary
    state = load_checkpoint(tmp_path / "run" / "last.pt", "seg")
    assert state["step"] == 40 and state["optimizer"] is not None
    assert state["config"]["channels"] == [4, 8, 8, 12] and state["config"]["stage"] == stage


def test_resume_continues_from_the_checkpoint(tiny_config, tmp_path):
    out = str(tmp_path / "run")
    train_segmentation(TrainConfig.from_file(tiny_config, out=out, steps=2))
    first = load_checkpoint(tmp_path / "run" / "last.pt", "seg")
    summary = train_segmentation(TrainConfig.from_file(tiny_config, out=out, steps=4), resume=f"{out}/last.pt")
    assert summary["steps"] == 4
    second = load_checkpoint(tmp_path / "run" / "last.pt", "seg")
    assert second["step"] == 4
    assert any(not torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    with pytest.raises(InputError):  # an MAE run cannot resume from a segmentation checkpoint
        pretrain_mae(TrainConfig.from_file(tiny_config, out=out, steps=6), resume=f"{out}/last.pt")


def test_mae_pretraining_initialises_the_unet_encoder(tiny_config, tmp_path):
    mae_out = tmp_path / "mae"
    summary = pretrain_mae(TrainConfig.from_file(tiny_config, out=str(mae_out), steps=2))
    assert summary["steps"] == 2
    mae = load_checkpoint(mae_out / "last.pt", "mae")["model"]
    seg_out = tmp_path / "seg"
    cfg = TrainConfig.from_file(tiny_config, out=str(seg_out), steps=1, lr=1e-12)
    cfg.mae_checkpoint = str(mae_out / "last.pt")
    train_segmentation(cfg)
    seg = load_checkpoint(seg_out / "last.pt", "seg")["model"]
    enc = {k: v for k, v in seg.items() if k.startswith("encoder.") and v.is_floating_point()}
    assert enc
    for k, v in enc.items():  # a learning rate of 1e-12 leaves the transferred weights as they were
        assert torch.allclose(v, mae[k], atol=1e-6), k


def test_finetune_starts_the_stage_from_exported_weights(tiny_config, tiny_model, tmp_path):
    from SpineFractureLib.models.registry import load_segmentation_model

    start, _ = load_segmentation_model(str(tiny_model))
    for stage in ("levels", "vertebra"):
        cfg = TrainConfig.from_file(tiny_config, out=str(tmp_path / stage), steps=1, lr=1e-12, stage=stage,
                                    finetune=str(tiny_model))
        train_segmentation(cfg)
        trained = load_checkpoint(tmp_path / stage / "last.pt", "seg")["model"]
        for k, v in getattr(start, stage).state_dict().items():
            if v.is_floating_point():  # float16 weights, float32 network, a vanishing learning rate
                assert torch.allclose(trained[k], v, atol=1e-3), (stage, k)
    wider = TrainConfig.from_file(tiny_config, out=str(tmp_path / "w"), steps=1, finetune=str(tiny_model))
    wider.channels = (4, 8, 8, 16)
    with pytest.raises(InputError, match="differs"):
        train_segmentation(wider)


def test_phantom_sets_mix_configurations():
    from SpineFractureLib.train.segmentation import _samples

    cfg = TrainConfig.from_dict({"phantom_seeds": [5, 2], "phantom_config": {"anatomy": "mesh"},
                                 "extra_phantoms": [{"seeds": [5, 1], "config": {}}]})
    keys = [key for key, _ in _samples(cfg).loaders]
    assert len(keys) == 3 and len(set(keys)) == 3  # phantom 5 twice: mesh and procedural, told apart
    assert keys[0].startswith("phantom-5-") and keys[2].startswith("phantom-5-")
    assert TrainConfig.from_dict(cfg.to_dict()).phantom_sets() == cfg.phantom_sets()
    with pytest.raises(ValueError, match="anatomy"):
        TrainConfig.from_dict({"phantom_config": {"anatomy": "boxes"}})
    with pytest.raises(ValueError, match="extra_phantoms"):
        TrainConfig.from_dict({"extra_phantoms": [{"seeds": [1]}]})
    with pytest.raises(ValueError, match="extra_phantoms"):
        TrainConfig.from_dict({"extra_phantoms": [{"seeds": [1, 2], "cfg": {}}]})


def test_ddp_two_cpu_processes(tiny_config, tmp_path):
    """`torchrun --nproc_per_node 2` runs train-seg unchanged (gloo on CPU)."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "SpineFractureLib", "train-seg", "--config", str(tiny_config), "--out", str(out),
           "--steps", "4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 2 and all(s["steps"] == 4 for s in summaries)
    # DDP keeps the replicas identical: both processes report the same all-reduced loss.
    assert summaries[0]["last_loss"] == pytest.approx(summaries[1]["last_loss"])
    assert load_checkpoint(out / "last.pt", "seg")["step"] == 4
