"""Registry: sha256 check before loading, weights_only loading, clear errors for damaged files."""

from __future__ import annotations

import json

import pytest
import torch

from SpineFractureLib.errors import InputError
from SpineFractureLib.models.cascade import stage_network
from SpineFractureLib.models.registry import (
    REGISTRY_PATH,
    export_weights,
    load_segmentation_model,
    model_tag,
    read_registry,
    segmenter_tag,
    sha256_of,
)
from SpineFractureLib.models.checkpoint import save_checkpoint

CH = (4, 8, 8, 12)


def _checkpoint(folder, stage, use_priors=False):
    net = stage_network(stage, CH)
    path = save_checkpoint(folder / f"{stage}.pt", kind="seg", model=net, optimizer=None, step=3,
                           config={"channels": list(CH), "use_priors": use_priors, "stage": stage})
    return net, path


@pytest.fixture
def registered(tmp_path):
    """A registry with one model exported from fresh checkpoints of the two stages."""
    torch.manual_seed(0)
    levels, levels_ckpt = _checkpoint(tmp_path, "levels")
    vertebra, vertebra_ckpt = _checkpoint(tmp_path, "vertebra")
    digest = export_weights(levels_ckpt, vertebra_ckpt, tmp_path / "weights" / "tiny.pt", name="tiny",
                            version="0.0.1", trained_on="synthetic phantoms")
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"schema_version": 1, "default": {"segmentation": "tiny"}, "models": [
        {"name": "tiny", "version": "0.0.1", "task": "segmentation", "file": "weights/tiny.pt",
         "sha256": digest, "trained_on": "synthetic phantoms"}]}))
    return registry, levels, vertebra, vertebra_ckpt


def test_registered_model_loads_both_stages_with_its_info(registered):
    registry, levels, vertebra, _ = registered
    model, info = load_segmentation_model("default", registry)
    assert info.name == "tiny" and info.trained_on == "synthetic phantoms"
    assert not model.levels_use_priors and not model.vertebra_use_priors
    assert info.sha256 == sha256_of(registry.parent / "weights" / "tiny.pt")
    with torch.no_grad():  # float16 storage: outputs agree to half precision
        x = torch.rand(1, 6, 16, 16, 16)
        assert torch.allclose(model.levels(x), levels.eval()(x), atol=2e-2)
        x = torch.rand(1, 5, 16, 16, 16)
        assert torch.allclose(model.vertebra(x), vertebra.eval()(x), atol=2e-2)
    assert model.levels.n_classes == 8 and model.vertebra.n_classes == 2


def test_export_refuses_swapped_stages_and_keeps_priors_per_stage(registered, tmp_path):
    _, _, _, vertebra_ckpt = registered
    _, levels_ckpt = _checkpoint(tmp_path, "levels", use_priors=True)
    with pytest.raises(InputError, match="expected the 'levels' stage"):
        export_weights(vertebra_ckpt, vertebra_ckpt, tmp_path / "x.pt", name="x", version="0", trained_on="x")
    assert not (tmp_path / "x.pt").exists()
    export_weights(levels_ckpt, vertebra_ckpt, tmp_path / "x.pt", name="x", version="0", trained_on="x")
    model, _ = load_segmentation_model(str(tmp_path / "x.pt"))
    assert model.levels_use_priors and not model.vertebra_use_priors


def test_wrong_sha256_is_refused(registered):
    registry = registered[0]
    weights = registry.parent / "weights" / "tiny.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        load_segmentation_model("tiny", registry)


def test_truncated_foreign_or_checkpoint_files_give_clear_errors(registered, tmp_path):
    registry, _, _, ckpt = registered
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((registry.parent / "weights" / "tiny.pt").read_bytes()[:1000])
    with pytest.raises(InputError, match="cannot be read"):
        load_segmentation_model(str(truncated))
    foreign = tmp_path / "foreign.pt"
    torch.save({"something": torch.zeros(2)}, foreign)
    with pytest.raises(InputError, match="not a SpineFracture segmentation weights file"):
        load_segmentation_model(str(foreign))
    with pytest.raises(InputError, match="export-seg"):  # one stage's checkpoint is not a model
        load_segmentation_model(str(ckpt))
    with pytest.raises(InputError, match="neither a registered model"):
        load_segmentation_model(str(tmp_path / "missing.pt"))


def test_shipped_registry_entries_are_consistent():
    """Every shipped model: file present, sha256 matching, labelled as trained on phantoms."""
    registry = read_registry()
    for entry in registry["models"]:
        path = REGISTRY_PATH.parent / entry["file"]
        assert path.is_file(), entry["name"]
        assert sha256_of(path) == entry["sha256"], entry["name"]
        assert entry["trained_on"] == "synthetic phantoms"
    total = sum((REGISTRY_PATH.parent / e["file"]).stat().st_size for e in registry["models"])
    assert total <= 20 * 1024 * 1024
    for task, name in registry["default"].items():
        assert any(e["name"] == name and e["task"] == task for e in registry["models"])


def test_segmenter_tag_names_the_localizer_too(tmp_path):
    """Masks predicted with and without the localizer must not share a cache entry."""
    other = tmp_path / "loc.pt"
    other.write_bytes(b"another localizer")
    with_default = segmenter_tag("default")
    assert with_default.startswith(model_tag("default", "segmentation"))
    assert with_default != segmenter_tag("default", None) == model_tag("default", "segmentation")
    assert with_default != segmenter_tag("default", str(other))
