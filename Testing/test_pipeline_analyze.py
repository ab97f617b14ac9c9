"""`analyze` and `classify` end to end on a phantom DICOM series (shipped segmentation, a small
untrained classifier: these tests check the plumbing and the contracts, not accuracy)."""

import json

import nibabel as nib
import numpy as np
import pytest

from conftest import e2e_case
from SpineFractureLib.cli.main import main
from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.export.findings import validate_findings
from SpineFractureLib.export.volumes import write_labels
from SpineFractureLib.pipeline.analyze import NO_CLASSIFIER, Analyzer, coarse_scan_warning, cut_level_warnings

OUTPUTS = {"findings.csv", "findings.json", "gradcam.nii.gz", "report.html", "report.png", "segmentation.dcm",
           "segmentation.nii.gz", "segmentation.seg.nrrd"}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    case = e2e_case(root)
    return case, root


@pytest.fixture(scope="module")
def analyzed(phantom):
    case, root = phantom
    out = root / "out"
    code = main(["analyze", str(root / "dicom"), "--out", str(out), "--classifier", str(root / "cls.pt"),
                 "--device", "cpu"])
    return code, out


def test_analyze_writes_every_output_of_the_contract(analyzed, phantom):
    code, out = analyzed
    case, _ = phantom
    assert code == 0
    assert {p.name for p in out.iterdir()} == OUTPUTS
    doc = json.loads((out / "findings.json").read_text())
    validate_findings(doc)
    present = [v for v in doc["vertebrae"] if v["present"]]
    assert len(present) >= 5 and doc["device"] == "cpu"
    assert set(doc["model"]) == {"localization", "segmentation", "classification"}
    assert doc["model"]["localization"]["trained_on"] == "synthetic phantoms"
    for v in doc["vertebrae"]:
        if v["present"]:
            assert 0.0 <= v["fracture_probability"] <= 1.0 and 0 <= v["peak_slice"] < case.ct.array.shape[0]
            assert v["fracture"] == (v["fracture_probability"] >= doc["threshold"])
        else:
            assert v["fracture_probability"] is None and v["volume_ml"] is None
    assert 0.0 <= doc["patient"]["fracture_probability"] <= 1.0
    assert not any("coarser than fracture CT" in w for w in doc["warnings"])  # 1 x 1 x 1.5 mm is fine
    # the patient is decided at its own threshold (the calibration's), not the levels'
    assert doc["threshold"] == 0.5 and doc["patient"]["threshold"] == 0.35
    assert doc["patient"]["fracture"] == (doc["patient"]["fracture_probability"] >= 0.35)
    assert {"segment", "classify", "gradcam", "measure", "export", "load", "total"} <= set(doc["timings_s"])
    labels = np.asarray(nib.load(out / "segmentation.nii.gz").dataobj).transpose(2, 1, 0)
    assert labels.shape == case.ct.array.shape and set(np.unique(labels)) <= set(range(8))
    heat = np.asarray(nib.load(out / "gradcam.nii.gz").dataobj)
    assert heat.dtype == np.float32 and 0.0 <= heat.min() and heat.max() <= 1.0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "synthetic phantoms" in html
    assert "at patient threshold 0.350" in html and "fractured at probability ≥ 0.500" in html
    for name in ("findings.json", "findings.csv", "report.html"):
        assert "SECRET" not in (out / name).read_text()  # no patient identifier anywhere
    assert b"SECRET" not in (out / "segmentation.dcm").read_bytes()


@pytest.mark.parametrize("spacing, coarse", [((0.5, 0.5, 0.625), False), ((0.98, 0.98, 3.0), False),
                                             ((3.2, 3.2, 1.5), True), ((0.7, 0.7, 5.0), True)])
def test_a_scan_too_coarse_for_fracture_lines_is_said_so(spacing, coarse):
    warning = coarse_scan_warning(spacing)
    assert (warning is not None) == coarse
    if coarse:
        assert f"{spacing[0]:.2g} x {spacing[1]:.2g} x {spacing[2]:.2g} mm" in warning


def test_a_level_on_the_first_or_last_slice_is_said_to_be_cut_with_its_probability_in_doubt():
    labels = np.zeros((20, 8, 8), np.uint8)
    labels[0:6], labels[8:14], labels[15:20] = 7, 6, 5  # C7 on the first slice, C5 on the last
    warnings = cut_level_warnings(labels)
    assert [w.split()[0] for w in warnings] == ["C5", "C7"]
    assert all("may be cut" in w and "fracture probability less reliable" in w for w in warnings)
    labels[19] = 0
    assert [w.split()[0] for w in cut_level_warnings(labels)] == ["C7"]


def test_a_non_empty_output_folder_is_refused_unless_overwrite(analyzed, phantom, capsys):
    _, out = analyzed
    _, root = phantom
    before = (out / "findings.json").stat().st_mtime_ns
    assert main(["analyze", str(root / "dicom"), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "findings.json").stat().st_mtime_ns == before


def test_classify_keeps_the_given_mask_and_reports_progress_as_json(phantom, capsys):
    case, root = phantom
    mask = case.labels.array.copy()
    mask[(mask > 7) | (mask == 7)] = 0  # the user removed C7
    write_labels(root / "mask.nii.gz", case.ct, mask)
    out = root / "reclassified"
    code = main(["classify", str(root / "dicom"), "--mask", str(root / "mask.nii.gz"), "--out", str(out),
                 "--classifier", str(root / "cls.pt"), "--device", "cpu", "--progress-json", "--no-gradcam"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fractions = [line["fraction"] for line in lines]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(isinstance(x["message"], str) for x in lines)
    back = np.asarray(nib.load(out / "segmentation.nii.gz").dataobj).transpose(2, 1, 0)
    assert np.array_equal(back, mask)
    doc = json.loads((out / "findings.json").read_text())
    assert [v["present"] for v in doc["vertebrae"]] == [bool(np.any(mask == i)) for i in range(1, 8)]
    assert doc["vertebrae"][6]["fracture_probability"] is None and not (out / "gradcam.nii.gz").exists()


def test_classify_refuses_a_mask_off_the_grid(phantom, capsys):
    case, root = phantom
    small = make_phantom(1, PhantomConfig(size_xyz=(40, 40, 40), spacing=(2.0, 2.0, 2.0)))
    write_labels(root / "off.nii.gz", small.ct, np.zeros(small.ct.array.shape, np.uint8))
    out = root / "never"
    assert main(["classify", str(root / "dicom"), "--mask", str(root / "off.nii.gz"), "--out", str(out),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "off.nii.gz" in err and "grid" in err and not out.exists()


def test_without_a_classifier_levels_are_measured_and_probabilities_stay_empty(phantom):
    case, _ = phantom
    analysis = Analyzer(classification=None, device="cpu").analyze(case.ct)
    f = analysis.findings
    assert NO_CLASSIFIER in f.warnings and analysis.heatmap is None and "classification" not in f.model
    assert all(v.fracture_probability is None for v in f.vertebrae)
    assert sum(v.present for v in f.vertebrae) >= 5 and f.patient["fracture_probability"] is None
    assert [v.level for v in f.vertebrae] == list(LEVELS)


@pytest.mark.parametrize("inner", [False, True], ids=["heat everywhere", "heat in an inner box"])
def test_heat_on_the_input_grid_equals_a_whole_grid_resampling(oblique_direction, inner):
    from SpineFractureLib.pipeline.analyze import heat_on_input_grid
    from SpineFractureLib.preprocess.geometry import resample_like
    from SpineFractureLib.volume import CTVolume

    rng = np.random.default_rng(3)
    ct = CTVolume(np.zeros((40, 50, 60), np.float32), (0.6, 0.6, 1.2), (-20.0, -10.0, 5.0), oblique_direction)
    crop = CTVolume(np.zeros((12, 14, 16), np.float32), (1.0, 1.0, 1.0), (-8.0, 0.0, 12.0))
    heat = rng.random((12, 14, 16)).astype(np.float32)
    if inner:  # as in analyze: heat only in the levels' ROIs, zero in the rest of the crop
        heat[:3], heat[9:], heat[:, :4], heat[:, 10:], heat[:, :, 12:] = 0, 0, 0, 0, 0
    fast = heat_on_input_grid(heat, crop, ct)
    whole = np.clip(resample_like(crop.with_array(heat), ct, default_value=0.0).array, 0, 1)
    assert fast.dtype == np.float32 and fast.shape == ct.array.shape
    assert whole.max() > 0.5  # the crop lies inside the scan
    np.testing.assert_allclose(fast, whole, atol=1e-6)
    assert not heat_on_input_grid(np.zeros_like(heat), crop, ct).any()  # no heat: zeros, nothing resampled


def test_bone_below_the_classifiers_training_range_is_warned_about_and_nothing_else():
    from SpineFractureLib.measure.levels import LevelMeasurement
    from SpineFractureLib.pipeline.analyze import low_bone_density_warning

    def levels(*hu):
        return {f"C{i}": LevelMeasurement(f"C{i}", 10.0, mean_hu=v) for i, v in enumerate(hu, start=1)}

    porotic = levels(None, 150.0, 120.0, 110.0, 400.0)  # C1 has no body; one dense outlier
    warning = low_bone_density_warning(porotic, (170.0, 380.0))
    assert warning and "135 HU" in warning and "170-380 HU" in warning
    assert low_bone_density_warning(porotic, None) is None  # training bone not known: no claim
    assert low_bone_density_warning(porotic, (100.0, 550.0)) is None
    assert low_bone_density_warning(levels(None, 600.0, 650.0), (170.0, 380.0)) is None  # denser: no warning
    assert low_bone_density_warning(levels(None), (170.0, 380.0)) is None  # only C1: nothing measured
