"""Plain CT folders for MAE pretraining: image files and DICOM folders, labels never read."""

import numpy as np
import pytest
import SimpleITK as sitk

from SpineFractureLib.data.case_io import read_case
from SpineFractureLib.data.unlabelled_dirs import list_unlabelled_cts
from SpineFractureLib.errors import InputError
from SpineFractureLib.io.dicom_write import write_dicom_series
from SpineFractureLib.train.segmentation import TrainConfig, pretrain_mae


@pytest.fixture(scope="module")
def plain_dir(small_labelled_dir, tmp_path_factory):
    """The two labelled phantoms' CTs alone: one as NIfTI, one as a DICOM series, plus a text file."""
    root = tmp_path_factory.mktemp("plain")
    a, b = (read_case(small_labelled_dir / f"case{s}") for s in (11, 12))
    (root / "scans").mkdir()
    sitk.WriteImage(a.ct.to_sitk(), str(root / "scans" / "neck.nii.gz"))
    write_dicom_series(b.ct, root / "scans" / "study" / "series")
    (root / "notes.txt").write_text("not a CT")
    return root, a, b


def test_lists_image_files_and_dicom_folders(plain_dir):
    root, a, b = plain_dir
    found = dict(list_unlabelled_cts(root))
    assert sorted(found) == ["scans/neck.nii.gz", "scans/study/series"]
    for key, source in (("scans/neck.nii.gz", a), ("scans/study/series", b)):
        case = found[key]()
        assert case.ct.array.shape == source.ct.array.shape and case.ct.same_grid(source.ct)
        assert not case.labels.array.any()
        np.testing.assert_allclose(case.ct.array, source.ct.array, atol=1.0)  # DICOM stores whole HU


def test_a_labelled_layout_gives_its_cts_not_its_label_files(small_labelled_dir):
    assert [key for key, _ in list_unlabelled_cts(small_labelled_dir)] == ["case11", "case12"]


def test_a_folder_without_ct_is_refused(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(InputError, match="holds no CT") as err:
        list_unlabelled_cts(tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(InputError, match="not a folder"):
        list_unlabelled_cts(tmp_path / "readme.txt")


def test_pretraining_runs_on_a_plain_ct_folder(plain_dir, tiny_config, tmp_path):
    root, _, _ = plain_dir
    cfg = TrainConfig.from_file(tiny_config, out=str(tmp_path / "mae"), data=str(root),
                                cache=str(tmp_path / "cache"), steps=2)
    summary = pretrain_mae(cfg)
    assert summary["steps"] == 2 and (tmp_path / "mae" / "last.pt").is_file()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
