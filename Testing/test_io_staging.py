"""Staged writing: a failure leaves nothing behind, success replaces atomically."""

import pytest

from SpineFractureLib.io.staging import staged_dir, staged_file


def test_staged_dir_success_and_replace(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "1"
    with staged_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_dir_failure_leaves_old_content(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_dir(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_file_keeps_suffix_and_cleans_up(tmp_path):
    target = tmp_path / "seg.nii.gz"
    with staged_file(target) as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_text("data")
    assert target.read_text() == "data"
    with pytest.raises(ValueError):
        with staged_file(tmp_path / "other.nii.gz") as tmp:
            tmp.write_text("half")
            raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.nii.gz"]
