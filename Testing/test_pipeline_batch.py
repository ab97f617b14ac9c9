"""`batch`: one row per case and level, a failing case reported and skipped over, reruns skip
finished cases, parts 0/2 and 1/2 cover every case once."""

import csv
from pathlib import Path

import pytest

from SpineFractureLib.cli.main import main
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.export.volumes import write_volume
from SpineFractureLib.pipeline.batch import split_cases

import numpy as np


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    case = make_phantom(900102, PhantomConfig(size_xyz=(80, 80, 100), spacing=(1.2, 1.2, 1.6), cut_probability=0.0))
    write_volume(root / "study-a.nii.gz", case.ct, case.ct.array, np.float32)
    (root / "study-b.nii.gz").write_bytes(b"not a nifti at all")  # a broken file in the archive
    return root


def test_batch_reports_a_broken_case_goes_on_and_skips_finished_cases_on_rerun(archive, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["batch", str(archive), "--out", str(out), "--device", "cpu", "--no-gradcam"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    good = [r for r in rows if r["case"] == "study-a.nii.gz"]
    bad = [r for r in rows if r["case"] == "study-b.nii.gz"]
    assert [r["level"] for r in good] == ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    assert len(bad) == 1 and "study-b.nii.gz" in bad[0]["error"]
    sub = list(csv.DictReader((out / "submission.csv").open()))
    assert len(sub) == 2 * 8 and sub[7]["row_id"] == "study-a_patient_overall"
    assert all(0.0 <= float(r["fractured"]) <= 1.0 for r in sub)
    assert (out / "cases" / "study-a.nii.gz" / "findings.json").is_file()
    capsys.readouterr()
    mtime = (out / "cases" / "study-a.nii.gz" / "findings.json").stat().st_mtime_ns
    assert main(args) == 0
    assert "1 finished before" in capsys.readouterr().out
    assert (out / "cases" / "study-a.nii.gz" / "findings.json").stat().st_mtime_ns == mtime


def test_parts_cover_every_case_once(archive, capsys):
    cases = [(f"case{i:02d}", Path(f"/x/case{i:02d}")) for i in range(7)]
    parts = [split_cases(list(reversed(cases)), i, 3) for i in range(3)]
    keys = sorted(k for part in parts for k, _ in part)
    assert keys == [k for k, _ in cases] and all(parts)
    assert split_cases(cases, 1, 3) == parts[1]  # deterministic whatever the listing order
    assert main(["batch", str(archive), "--out", "/tmp/x", "--part-id", "3", "--num-parts", "2"]) == 2
    assert "--part-id" in capsys.readouterr().err
