"""Registry: sha256 check before loading, weights_only loading, clear errors for damaged files."""

from __future__ import annotations

import json

import pytest
import torch

from SpineFractureLib.errors import InputError
from SpineFractureLib.models.registry import (
    REGISTRY_PATH,
    export_weights,
    load_segmentation_model,
    read_registry,
    sha256_of,
)
from SpineFractureLib.models.unet import SpineUNet
from SpineFractureLib.train.checkpoint import save_checkpoint

CH = (4, 8, 8, 12)


@pytest.fixture
def registered(tmp_path):
    """A registry with one model exported from a fresh checkpoint."""
    torch.manual_seed(0)
    net = SpineUNet(channels=CH)
    ckpt = save_checkpoint(tmp_path / "last.pt", kind="seg", model=net, optimizer=None, step=3,
                           config={"channels": list(CH), "use_priors": False})
    digest = export_weights(ckpt, tmp_path / "weights" / "tiny.pt", name="tiny", version="0.0.1",
                            trained_on="synthetic phantoms")
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"schema_version": 1, "default": {"segmentation": "tiny"}, "models": [
        {"name": "tiny", "version": "0.0.1", "task": "segmentation", "file": "weights/tiny.pt",
         "sha256": digest, "trained_on": "synthetic phantoms"}]}))
    return registry, net, ckpt


def test_registered_model_loads_with_its_info(registered):
    registry, net, _ = registered
    model, info = load_segmentation_model("default", registry)
    assert info.name == "tiny" and info.trained_on == "synthetic phantoms" and not info.use_priors
    assert info.sha256 == sha256_of(registry.parent / "weights" / "tiny.pt")
    x = torch.rand(1, 5, 16, 16, 16)
    with torch.no_grad():  # float16 storage: outputs agree to half precision
        assert torch.allclose(model(x), net.eval()(x), atol=2e-2)


def test_wrong_sha256_is_refused(registered):
    registry, _, _ = registered
    weights = registry.parent / "weights" / "tiny.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        load_segmentation_model("tiny", registry)


def test_truncated_or_foreign_files_give_clear_errors(registered, tmp_path):
    _, _, ckpt = registered
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(InputError, match="cannot be read"):
        load_segmentation_model(str(truncated))
    foreign = tmp_path / "foreign.pt"
    torch.save({"something": torch.zeros(2)}, foreign)
    with pytest.raises(InputError, match="not a segmentation model"):
        load_segmentation_model(str(foreign))
    with pytest.raises(InputError, match="neither a registered model"):
        load_segmentation_model(str(tmp_path / "missing.pt"))


def test_a_training_checkpoint_loads_unregistered(registered):
    _, net, ckpt = registered
    model, info = load_segmentation_model(str(ckpt))
    assert info.trained_on == "unknown" and info.version == "unregistered"
    x = torch.rand(1, 5, 16, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), net.eval()(x), atol=1e-5)


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
