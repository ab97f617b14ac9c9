"""Classifier weights files: the network, its calibration and operating points, and what it saw.

A file holds ``format``, ``arch`` (constructor arguments), ``state_dict`` (float16), ``inputs``
(the ablation switches the network was trained with: inference must feed the same),
``calibration`` (temperatures fitted on a validation split and the operating points found there)
and ``meta`` (name, version, trained_on, steps, validation source and, for phantom-trained weights,
:data:`CANCELLOUS_KEY`: the cancellous-bone HU range of the phantoms trained on).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..errors import InputError
from ..io.staging import staged_file
from .classifier import FractureClassifier, classifier_from_arch
from .cls_readout import CUT_ENDS, HEATMAPS, PATIENT_SOURCES
from .registry import REGISTRY_PATH, ModelInfo, model_info, read_weights, sha256_of

CLASSIFIER_FORMAT = "spinefracture-classifier-1"
#: Key of ``meta`` (or of the registry entry, for files written before it) holding [low, high]: the HU
#: range the training phantoms' cancellous bone was drawn from. Bone outside it is outside the training data.
CANCELLOUS_KEY = "phantom_cancellous_hu"
OPERATING_POINTS = ("balanced", "triage")


@dataclass
class Calibration:
    """Temperatures and thresholds from a validation split (applied to probabilities after scaling).

    Attributes:
        level_temperature: divides the level logits.
        patient_temperature: divides the patient logit.
        thresholds: {operating point: {"level": t, "patient": t}}; ``balanced`` = maximum Youden J,
            ``triage`` = the highest threshold with sensitivity ≥ 0.95 on validation.
        validation: what the split was (e.g. ``phantoms seeds 810000..810047``) and its size.
        flip_average: average the logits with those of the mirrored ROIs (see
            :mod:`~SpineFractureLib.models.cls_readout`; weights files written before it: False).
        patient_source: how the patient probability is read (:data:`~.cls_readout.PATIENT_SOURCES`).
        heatmap: which heat map is drawn (:data:`~.cls_readout.HEATMAPS`).
        cut_level_bias: {end: offset} added to the temperature-scaled logit of a level that the
            scan's ``bottom`` or ``top`` edge cuts (:func:`~.cls_readout.cut_level_offsets`); empty
            in files written before it (cut levels read as whole ones).
    """

    level_temperature: float = 1.0
    patient_temperature: float = 1.0
    thresholds: dict[str, dict[str, float]] = field(
        default_factory=lambda: {p: {"level": 0.5, "patient": 0.5} for p in OPERATING_POINTS})
    validation: dict[str, Any] = field(default_factory=dict)
    flip_average: bool = False
    patient_source: str = "head"
    heatmap: str = "gradcam"
    cut_level_bias: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not set(self.cut_level_bias) <= set(CUT_ENDS):
            raise ValueError(f"cut_level_bias ends must be among {CUT_ENDS}, got {sorted(self.cut_level_bias)}")
        if self.patient_source not in PATIENT_SOURCES:
            raise ValueError(f"patient_source must be one of {PATIENT_SOURCES}, got {self.patient_source!r}")
        if self.heatmap not in HEATMAPS:
            raise ValueError(f"heatmap must be one of {HEATMAPS}, got {self.heatmap!r}")

    def threshold(self, point: str, target: str = "level") -> float:
        """The threshold of an operating point (``balanced`` or ``triage``) for ``level`` or ``patient``."""
        if point not in self.thresholds:
            raise ValueError(f"operating point must be one of {sorted(self.thresholds)}, got {point!r}")
        return float(self.thresholds[point][target])


@dataclass
class LoadedClassifier:
    """A classifier ready for inference: network (eval mode, float32, CPU), inputs, calibration, info.

    ``cancellous_hu`` is the cancellous-bone HU range (low, high) of the phantoms it was trained on,
    None where unknown (trained on other data, or a file that does not say).
    """

    network: FractureClassifier
    inputs: dict[str, Any]
    calibration: Calibration
    info: ModelInfo
    cancellous_hu: tuple[float, float] | None = None


def save_classifier(path: str | os.PathLike, network: FractureClassifier, *, inputs: dict[str, Any],
                    calibration: Calibration, name: str, version: str, trained_on: str,
                    extra_meta: dict[str, Any] | None = None) -> str:
    """Write a classifier weights file (temporary name, then rename).

    Returns:
        The file's sha256 (for the registry).
    """
    blob = {"format": CLASSIFIER_FORMAT, "arch": dict(network.arch), "inputs": dict(inputs),
            "state_dict": {k: (v.half() if v.is_floating_point() else v) for k, v in network.state_dict().items()},
            "calibration": asdict(calibration),
            "meta": {"name": name, "version": version, "trained_on": trained_on, **(extra_meta or {})}}
    with staged_file(path) as tmp:
        torch.save(blob, tmp)
    return sha256_of(path)


def recalibrated_copy(source: str, path: str | os.PathLike, calibration: Calibration, *, version: str,
                      name: str | None = None, note: dict[str, Any] | None = None, new_readout: bool = True) -> str:
    """Write ``source``'s network with a new readout (``calibration``) as another weights file.

    The file's meta (training history, segmentation) is kept; ``readout_chosen_from`` names the
    source where ``new_readout`` (the readout was chosen again; else the source's own record stays),
    and ``note`` adds to the meta.

    Args:
        source: registered name, ``default`` or a weights file.
        path: the new file.
        calibration: the readout it carries.
        version: the version it carries; ``name``: its name (default: the source's).

    Returns:
        The new file's sha256.
    """
    loaded = load_classifier(source)
    meta = read_weights(source, "classification", CLASSIFIER_FORMAT, REGISTRY_PATH)[0].get("meta", {})
    kept = {k: v for k, v in meta.items() if k not in ("name", "version", "trained_on")}
    return save_classifier(path, loaded.network, inputs=loaded.inputs, calibration=calibration,
                           name=name or loaded.info.name, version=version, trained_on=loaded.info.trained_on,
                           extra_meta=kept | ({"readout_chosen_from": f"{loaded.info.name} {loaded.info.version}"}
                                              if new_readout else {}) | (note or {}))


def load_classifier(name_or_path: str = "default", registry_path: str | os.PathLike = REGISTRY_PATH) -> LoadedClassifier:
    """Load registered classifier weights (sha256 checked first) or a file written by :func:`save_classifier`.

    Raises:
        InputError: unknown name, missing, damaged or foreign file, weights that do not fit.
    """
    blob, path, entry, digest = read_weights(name_or_path, "classification", CLASSIFIER_FORMAT, registry_path,
                                             hint="`spinefracture train-cls` writes model.pt beside it")
    try:
        net = classifier_from_arch(blob["arch"])
        net.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
        calibration = Calibration(**blob.get("calibration", {}))
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise InputError(path, f"classifier weights do not fit the network ({err})") from err
    return LoadedClassifier(net.eval(), dict(blob.get("inputs", {})), calibration,
                            model_info(blob, path, entry, digest), _cancellous_range(blob, entry))


def _cancellous_range(blob: dict[str, Any], entry: dict[str, Any] | None) -> tuple[float, float] | None:
    """The file's :data:`CANCELLOUS_KEY`, else its registry entry's (older shipped files lack it), else None."""
    value = blob.get("meta", {}).get(CANCELLOUS_KEY) or (entry or {}).get(CANCELLOUS_KEY)
    if not value:
        return None
    low, high = (float(v) for v in value)
    return low, high


__all__ = ["CANCELLOUS_KEY", "CLASSIFIER_FORMAT", "Calibration", "LoadedClassifier", "OPERATING_POINTS", "load_classifier", "recalibrated_copy",
           "save_classifier"]
