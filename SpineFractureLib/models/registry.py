"""Registry of shipped weights: name, version, sha256, what they were trained on; safe loading.

``registry.json`` (beside this file) lists each model; the weights live in ``weights/``. A file is
loaded only after its sha256 matches the registry, and always with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io.staging import staged_file
from .checkpoint import load_checkpoint
from .cascade import (
    STAGE_NAMES,
    SpineSegModel,
    stage_network,
    unet_arch,
    unet_from_arch,
)

log = logging.getLogger(__name__)

REGISTRY_PATH = Path(__file__).with_name("registry.json")
#: Version 2: the two stages of :class:`SpineSegModel` in one file.
WEIGHTS_FORMAT = "spinefracture-weights-2"


@dataclass(frozen=True)
class ModelInfo:
    """What findings.json and the model card say about a model."""

    name: str
    version: str
    sha256: str
    trained_on: str

    def as_json(self) -> dict[str, Any]:
        """The ``model`` object of findings.json and of the evaluation JSON."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "trained_on": self.trained_on}


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_registry(path: str | os.PathLike = REGISTRY_PATH) -> dict[str, Any]:
    """The registry JSON (``models`` list and ``default`` per task)."""
    return json.loads(Path(path).read_text())


def resolve_model(name_or_path: str, task: str = "segmentation",
                  registry_path: str | os.PathLike = REGISTRY_PATH) -> tuple[Path, dict[str, Any] | None]:
    """Find a model's file: a registered name (``default`` = the task's default) or a file path.

    Returns:
        (file, registry entry or None for an unregistered file).

    Raises:
        InputError: neither a registered name nor an existing file.
    """
    registry = read_registry(registry_path)
    name = registry.get("default", {}).get(task) if name_or_path == "default" else name_or_path
    for entry in registry.get("models", []):
        if entry["name"] == name and entry.get("task", task) == task:
            return Path(registry_path).parent / entry["file"], entry
    path = Path(name_or_path)
    if path.is_file():
        return path, None
    known = ", ".join(e["name"] for e in registry.get("models", [])) or "none"
    raise InputError(path, f"is neither a registered model ({known}) nor a file")


def model_tag(name_or_path: str, task: str, registry_path: str | os.PathLike = REGISTRY_PATH) -> str:
    """The first 10 hex digits of a model's sha256 (keys caches, so outputs of two models never mix)."""
    path, entry = resolve_model(name_or_path, task, registry_path)
    return (entry["sha256"] if entry else sha256_of(path))[:10]


def segmenter_tag(segmentation: str, localizer: str | None = "default",
                  registry_path: str | os.PathLike = REGISTRY_PATH) -> str:
    """Names what a :class:`~SpineFractureLib.pipeline.segment.Segmenter` outputs (keys caches).

    The localizer decides which levels survive, so masks predicted with another localizer (or
    none) are other masks: both models' sha256 prefixes are in the tag.
    """
    tag = model_tag(segmentation, "segmentation", registry_path)
    return f"{tag}-{model_tag(localizer, 'localization', registry_path)[:6]}" if localizer else tag


def read_weights(name_or_path: str, task: str, fmt: str, registry_path: str | os.PathLike = REGISTRY_PATH,
                 hint: str = "") -> tuple[dict[str, Any], Path, dict[str, Any] | None, str]:
    """Find, check and read a weights file of one task (sha256 checked first for registered ones).

    Args:
        name_or_path: registered name, ``default`` (the task's default) or a weights file.
        task: ``segmentation`` or ``classification``.
        fmt: the ``format`` value the file must carry.
        registry_path: the registry to look names up in.
        hint: what to do with a training checkpoint given instead (said in the error).

    Returns:
        (the file's contents, its path, its registry entry or None, its sha256).

    Raises:
        InputError: unknown name, missing file, sha256 mismatch, truncated or foreign file.
    """
    path, entry = resolve_model(name_or_path, task, registry_path)
    if not path.is_file():
        raise InputError(path, "registered weights file is missing (reinstall the package)")
    digest = sha256_of(path)
    if entry is not None and digest != entry["sha256"]:
        raise InputError(path, f"sha256 {digest[:12]}… does not match the registry's {entry['sha256'][:12]}…: "
                               "the file is damaged or was replaced; refusing to load it")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle refused by weights_only, ...
        raise InputError(path, f"cannot be read as weights ({type(err).__name__}: {err})") from err
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        extra = f" (a training checkpoint: {hint})" if hint and isinstance(blob, dict) and "kind" in blob else ""
        raise InputError(path, f"is not a SpineFracture {task} weights file{extra}")
    return blob, path, entry, digest


def model_info(blob: dict[str, Any], path: Path, entry: dict[str, Any] | None, digest: str) -> ModelInfo:
    """The ModelInfo of a weights file: from its registry entry, else from its own ``meta``."""
    meta = blob.get("meta", {})
    return ModelInfo(
        name=entry["name"] if entry else meta.get("name", path.stem),
        version=entry["version"] if entry else meta.get("version", "unregistered"),
        sha256=digest,
        trained_on=entry["trained_on"] if entry else meta.get("trained_on", "unknown"),
    )


def load_segmentation_model(name_or_path: str = "default",
                            registry_path: str | os.PathLike = REGISTRY_PATH) -> tuple[SpineSegModel, ModelInfo]:
    """Load both segmentation stages: registered weights (sha256 checked first) or an exported file.

    Args:
        name_or_path: registered name, ``default``, or a weights file from :func:`export_weights`.
        registry_path: the registry to look names up in.

    Returns:
        The model in eval mode (float32, CPU) and its info.

    Raises:
        InputError: unknown name, missing file, sha256 mismatch, truncated or foreign file.
    """
    blob, path, entry, digest = read_weights(name_or_path, "segmentation", WEIGHTS_FORMAT, registry_path,
                                             hint="pack the two stages with `spinefracture export-seg`")
    nets, priors = {}, {}
    for stage in STAGE_NAMES:
        part = blob.get("stages", {}).get(stage)
        if part is None:
            raise InputError(path, f"has no '{stage}' stage")
        try:
            net = unet_from_arch(part["arch"])
            net.load_state_dict({k: v.float() for k, v in part["state_dict"].items()})
        except (KeyError, ValueError, RuntimeError) as err:
            raise InputError(path, f"'{stage}' weights do not fit the U-Net ({err})") from err
        nets[stage], priors[stage] = net, bool(part.get("use_priors", True))
    model = SpineSegModel(nets["levels"], nets["vertebra"], priors["levels"], priors["vertebra"]).eval()
    return model, model_info(blob, path, entry, digest)


def export_weights(levels_checkpoint: str | os.PathLike, vertebra_checkpoint: str | os.PathLike,
                   out: str | os.PathLike, *, name: str, version: str, trained_on: str) -> str:
    """Write compact inference weights (float16) of both stages from their ``seg`` checkpoints.

    Raises:
        InputError: a checkpoint of the wrong stage.

    Returns:
        The sha256 of the written file (for the registry).
    """
    stages, steps = {}, {}
    for stage, ckpt in zip(STAGE_NAMES, (levels_checkpoint, vertebra_checkpoint)):
        state = load_checkpoint(ckpt, "seg")
        cfg = state["config"]
        if cfg.get("stage", "vertebra") != stage:
            raise InputError(ckpt, f"is a '{cfg.get('stage')}' checkpoint, expected the '{stage}' stage")
        net = stage_network(stage, tuple(cfg["channels"]))
        stages[stage] = {"arch": unet_arch(net), "use_priors": bool(cfg["use_priors"]),
                         "state_dict": {k: (v.half() if v.is_floating_point() else v) for k, v in state["model"].items()}}
        steps[stage] = state["step"]
    blob = {"format": WEIGHTS_FORMAT, "stages": stages,
            "meta": {"name": name, "version": version, "trained_on": trained_on, "steps": steps}}
    with staged_file(out) as tmp:
        torch.save(blob, tmp)
    return sha256_of(out)


__all__ = ["ModelInfo", "export_weights", "load_segmentation_model", "model_info", "model_tag", "read_registry", "read_weights",
           "resolve_model", "segmenter_tag", "sha256_of"]
