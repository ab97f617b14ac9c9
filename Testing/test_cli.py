"""The `spinefracture` command line: exit codes, one-line errors, nothing written on failure."""

import gzip
import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from SpineFractureLib.cli import main
from SpineFractureLib.io.dicom_write import write_dicom_series


def run(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_text_and_json_on_real_dicom(capsys, shared_data):
    code, out, err = run(capsys, "info", shared_data / "ct-head-neck-dicom")
    assert code == 0
    assert "64 × 64 × 93" in out and "3.2 × 3.2 × 1.5" in out and "--hu-offset -1024" in out
    code, out, _ = run(capsys, "info", "--json", shared_data / "ct-head-neck-dicom")
    info = json.loads(out)
    assert code == 0
    assert info["size"] == [64, 64, 93] and info["modality"] == "CT" and info["orientation"] == "LPS"
    assert info["hu_range"] == [0.0, 3926.0]
    code, out, _ = run(capsys, "info", "--json", "--hu-offset", "-1024", shared_data / "ct-head-neck-dicom")
    assert json.loads(out)["hu_range"] == [-1024.0, 2902.0]


def test_info_json_has_no_patient_identifiers(capsys, toy_ct, tmp_path):
    write_dicom_series(toy_ct, tmp_path, patient_id="DOE^JOHN")
    for f in tmp_path.iterdir():
        ds = pydicom.dcmread(f)
        ds.PatientBirthDate = "19700101"
        ds.save_as(f)
    code, out, err = run(capsys, "-v", "info", "--json", tmp_path)
    assert code == 0
    assert "DOE" not in out + err and "19700101" not in out + err


def make_bad(kind, tmp_path, toy_ct):
    """Create one kind of bad input under tmp_path and return its path."""
    p = tmp_path / "in"
    if kind == "missing":
        return tmp_path / "nope"
    if kind == "empty folder":
        p.mkdir()
    elif kind == "no dicom":
        p.mkdir()
        (p / "readme.txt").write_text("hi")
    elif kind in ("mr series", "single slice", "missing slice", "truncated dicom"):
        files = write_dicom_series(toy_ct, p, modality="MR" if kind == "mr series" else "CT")
        if kind == "single slice":
            for f in files[1:]:
                f.unlink()
        elif kind == "missing slice":
            files[10].unlink()
        elif kind == "truncated dicom":
            files[4].write_bytes(files[4].read_bytes()[:1500])
    elif kind == "not nifti":
        p = tmp_path / "in.nii.gz"
        p.write_bytes(gzip.compress(b"\x00" * 100))
    elif kind == "2d image":
        p = tmp_path / "in.nii.gz"
        sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(p))
    elif kind == "nan":
        p = tmp_path / "in.nii.gz"
        arr = toy_ct.array.copy()
        arr[1, 1, 1] = np.nan
        sitk.WriteImage(toy_ct.with_array(arr).to_sitk(), str(p))
    return p


BAD = {
    "missing": "no such file",
    "empty folder": "empty",
    "no dicom": "no DICOM",
    "mr series": "MR",
    "single slice": "1 slice",
    "missing slice": "missing slice",
    "truncated dicom": "truncated",
    "not nifti": "not a readable",
    "2d image": "2D",
    "nan": "NaN",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_exit_2_one_line(capsys, tmp_path, toy_ct, kind):
    path = make_bad(kind, tmp_path, toy_ct)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run(capsys, "info", path)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and BAD[kind] in lines[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "info")[0] == 2
    assert run(capsys, "no-such-command")[0] == 2
    assert run(capsys, "info", "--no-such-option", "x")[0] == 2


@pytest.mark.parametrize("command", [[], ["info"], ["demo"]])
def test_help_on_every_command(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and "Usage" in out


def test_demo_analyzes_a_phantom_with_a_known_fracture(capsys, tmp_path):
    from SpineFractureLib.pipeline.analyze import default_classifier_installed

    code, out, _ = run(capsys, "demo", "--out", tmp_path / "d")
    assert code == 0
    assert "known fracture at" in out and "levels found: C1, C2, C3" in out and "synthetic phantoms" in out
    if default_classifier_installed():
        assert "most suspicious level" in out and "patient fracture probability" in out
    analysis = tmp_path / "d" / "analysis"
    assert {"findings.json", "report.html", "segmentation.dcm", "segmentation.seg.nrrd"} <= {
        p.name for p in analysis.iterdir()}
    files = sorted((tmp_path / "d" / "ct-dicom").iterdir())
    assert len(files) == 150
    # reproducible: running again gives byte-identical files
    first = files[0].read_bytes()
    assert run(capsys, "demo", "--out", tmp_path / "d")[0] == 0
    assert files[0].read_bytes() == first


def test_console_script_is_installed(tmp_path):
    exe = shutil.which("spinefracture")
    assert exe, "the console script `spinefracture` is not on PATH: is the package installed?"
    result = subprocess.run([exe, "info", tmp_path / "missing"], capture_output=True, text=True)
    assert result.returncode == 2 and "no such file" in result.stderr


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "SpineFractureLib", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "info" in result.stdout


def test_phantom_dicom_three_series_described_by_info(capsys, tmp_path):
    small = ["--size", "64", "56", "90", "--spacing", "2.0", "2.2", "2.5"]
    code, out, err = run(capsys, "phantom", tmp_path / "p", "--seed", "1", "--count", "3", "--format", "dicom",
                         "--preview", *small)
    assert code == 0, err
    for seed in (1, 2, 3):
        folder = tmp_path / "p" / f"phantom-{seed}"
        assert sorted(p.name for p in folder.iterdir()) == [
            "ct", "fracture.nii.gz", "labels.nii.gz", f"phantom-{seed}-preview.png", "truth.json"]
        assert (folder / f"phantom-{seed}-preview.png").read_bytes()[:4] == b"\x89PNG"
        code, out, _ = run(capsys, "info", "--json", folder / "ct")
        info = json.loads(out)
        assert code == 0 and info["size"] == [64, 56, 90] and info["slices"] == 90
        assert info["warnings"] == []  # phantoms are in HU


@pytest.mark.parametrize("fmt, expected", [("rsna", "train.csv"), ("verse", "sub-phantom4")])
def test_phantom_dataset_layouts(capsys, tmp_path, fmt, expected):
    small = ["--size", "48", "48", "80", "--spacing", "2.5", "2.5", "2.5"]
    code, _, err = run(capsys, "phantom", tmp_path / "d", "--seed", "4", "--format", fmt, *small)
    assert code == 0, err
    assert (tmp_path / "d" / expected).exists()


def test_phantom_bad_format_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, "phantom", tmp_path / "d", "--seed", "1", "--format", "png")
    assert code == 2 and "--format" in err and not (tmp_path / "d").exists()


def test_phantom_chest_with_contrast_writes_truth_of_its_field_of_view(capsys, tmp_path):
    code, _, err = run(capsys, "phantom", tmp_path / "c", "--seed", "2", "--fov", "chest", "--contrast", "arterial",
                       "--spacing", "4", "4", "4")
    assert code == 0, err
    truth = json.loads((tmp_path / "c" / "phantom-2" / "truth.json").read_text())
    assert truth["field_of_view"] == "chest" and truth["contrast"] == "arterial"
    assert not truth["levels"]["C1"]["present"]


def test_phantom_unknown_field_of_view_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "phantom", tmp_path / "d", "--seed", "1", "--fov", "legs")
    assert code == 2 and "fov" in err and not (tmp_path / "d").exists()
