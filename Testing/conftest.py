"""Shared fixtures: small synthetic volumes with fixed seeds, and the real files in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample files (read in place, never copied into the project)."""
    assert SHARED_DATA.is_dir(), f"../shared/data is missing beside the repository ({SHARED_DATA})"
    return SHARED_DATA


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (the benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rotation(axis: str, degrees: float) -> np.ndarray:
    """3×3 rotation about x, y or z."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@pytest.fixture
def oblique_direction() -> np.ndarray:
    """An oblique, orthonormal direction matrix (rotations about all three axes)."""
    return rotation("z", 20.0) @ rotation("x", -15.0) @ rotation("y", 10.0)


@pytest.fixture
def toy_ct():
    """A small synthetic neck CT (seeded), canonical LPS orientation."""
    from SpineFractureLib.data.toy_ct import make_toy_ct

    return make_toy_ct(size_xyz=(40, 36, 24), spacing=(1.2, 1.1, 2.5), seed=3)


TINY_CHANNELS = (4, 8, 8, 12)


@pytest.fixture(scope="session")
def small_labelled_dir(tmp_path_factory) -> Path:
    """Two small phantoms (seeds 11, 12) as case folders: a labelled dataset for training tests."""
    from SpineFractureLib.data.case_io import write_case
    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom

    root = tmp_path_factory.mktemp("labelled")
    cfg = PhantomConfig(size_xyz=(80, 80, 110), spacing=(1.5, 1.5, 1.8), streak_probability=0.0, pose=False,
                        fracture_rate=1.0)
    for seed in (11, 12):
        write_case(make_phantom(seed, cfg), root / f"case{seed}", fmt="nifti")
    return root


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, small_labelled_dir) -> Path:
    """A JSON training config: tiny network, small patches, few steps, CPU."""
    import json

    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "tiny.json"
    path.write_text(json.dumps({
        "data": str(small_labelled_dir), "cache": str(folder / "cache"), "patch_zyx": [48, 48, 48],
        "channels": list(TINY_CHANNELS), "device": "cpu",
        "loop": {"steps": 4, "lr": 0.003, "log_every": 2, "checkpoint_every": 2, "seed": 0},
    }))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_config) -> Path:
    """Exported weights of both segmentation stages after two training steps each."""
    from SpineFractureLib.models.registry import export_weights
    from SpineFractureLib.train.segmentation import TrainConfig, train_segmentation

    out = tmp_path_factory.mktemp("tinyseg")
    for stage in ("levels", "vertebra"):
        train_segmentation(TrainConfig.from_file(tiny_config, out=str(out / stage), steps=2, stage=stage))
    path = out / "tiny.pt"
    export_weights(out / "levels" / "last.pt", out / "vertebra" / "last.pt", path, name="tiny", version="0",
                   trained_on="synthetic phantoms")
    return path


#: The phantom the end-to-end tests analyse (analyze CLI, Slicer workflow): small, fractured, whole.
E2E_PHANTOM = dict(size_xyz=(96, 96, 110), spacing=(1.0, 1.0, 1.5), fracture_rate=1.0, difficulty=0.2,
                   cut_probability=0.0, streak_probability=0.0)


def e2e_case(root: Path):
    """Phantom 900101 written as a DICOM series under ``root/dicom`` (with a patient ID that must never
    reach an output) and a small untrained classifier ``root/cls.pt``; returns the case."""
    import torch

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
    from SpineFractureLib.io.dicom_write import write_dicom_series
    from SpineFractureLib.models.classifier import FractureClassifier
    from SpineFractureLib.models.classifier_weights import Calibration, save_classifier

    case = make_phantom(900101, PhantomConfig(**E2E_PHANTOM))
    write_dicom_series(case.ct, root / "dicom", patient_id="SECRET^PATIENT")
    torch.manual_seed(0)
    net = FractureClassifier(channels=(4, 8, 8, 12), dim=16, region_head=True, pool="mean_max")
    # the patient threshold differs from the level one, as in every calibrated file
    calibration = Calibration(thresholds={"balanced": {"level": 0.5, "patient": 0.35},
                                          "triage": {"level": 0.1, "patient": 0.2}})
    save_classifier(root / "cls.pt", net, inputs={"windows": 3, "fracture_input": True}, calibration=calibration,
                    name="untrained-test", version="0", trained_on="nothing (a test)")
    return case


def localizer_grid(shape, body_from_k=0, origin=(0.0, 0.0, 0.0)):
    """A 4 mm localizer grid whose HU is soft tissue (0) from slice ``body_from_k`` up and air below it."""
    from SpineFractureLib.volume import CTVolume

    hu = np.zeros(shape, np.float32)
    hu[:body_from_k] = -1000.0
    return CTVolume(hu, (4.0, 4.0, 4.0), origin, np.eye(3))
