"""NIfTI, NRRD and MetaImage reading: geometry kept, bad files refused."""

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from SpineFractureLib.errors import InputError
from SpineFractureLib.io import load_ct


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_geometry(toy_ct, oblique_direction, tmp_path, suffix):
    ct = toy_ct.with_array(toy_ct.array, direction=oblique_direction)
    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(ct.to_sitk(), str(path))
    back = load_ct(path)
    assert np.allclose(back.array, ct.array)
    assert np.allclose(back.spacing, ct.spacing, atol=1e-5)
    assert np.allclose(back.origin, ct.origin, atol=1e-3)
    assert np.allclose(back.direction, ct.direction, atol=1e-5)
    assert back.array.dtype == np.float32


def test_integer_nifti_becomes_float_hu(toy_ct, tmp_path):
    sitk.WriteImage(toy_ct.with_array(toy_ct.array.astype(np.int16)).to_sitk(), str(tmp_path / "ct.nii.gz"))
    back = load_ct(tmp_path / "ct.nii.gz")
    assert back.array.dtype == np.float32
    assert np.array_equal(back.array, toy_ct.array.astype(np.int16))


def test_real_slicer_nrrd(shared_data):
    vol = load_ct(shared_data / "ctchest4-slicer" / "CTChest4.nrrd")
    assert vol.shape_xyz == (128, 128, 34)
    # Slicer stores this file in RAS-aligned space directions; ITK gives LPS: i runs to the right
    assert np.allclose(np.diag(vol.direction), [-1, -1, 1])
    assert vol.array.min() == -3024 and vol.warnings == []


def test_real_verse_ct(shared_data):
    vol = load_ct(shared_data / "verse-sub-verse012" / "sub-verse012_ct.nii.gz")
    assert vol.array.shape == (252, 194, 35)
    assert np.allclose(vol.spacing, (3.0, 1.0, 1.0), atol=1e-5)


def test_not_an_image_with_nii_gz_name(tmp_path):
    path = tmp_path / "fake.nii.gz"
    path.write_bytes(gzip.compress(b"this is not a NIfTI header at all" * 20))
    with pytest.raises(InputError, match="not a readable image") as err:
        load_ct(path)
    assert "fake.nii.gz" in str(err.value)


def test_plain_text_with_nii_gz_name(tmp_path):
    path = tmp_path / "notes.nii.gz"
    path.write_text("hello")
    with pytest.raises(InputError, match="notes.nii.gz"):
        load_ct(path)


def test_2d_image_refused(tmp_path):
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkInt16), str(path))
    with pytest.raises(InputError, match="2D"):
        load_ct(path)


def test_single_slice_3d_refused(tmp_path):
    path = tmp_path / "slab.nrrd"
    sitk.WriteImage(sitk.Image(16, 16, 1, sitk.sitkInt16), str(path))
    with pytest.raises(InputError, match="single slice"):
        load_ct(path)


def test_vector_image_refused(tmp_path):
    path = tmp_path / "rgb.mha"
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3), str(path))
    with pytest.raises(InputError, match="3 components"):
        load_ct(path)


def test_nan_refused(toy_ct, tmp_path):
    arr = toy_ct.array.copy()
    arr[3, 4, 5] = np.nan  # ITK reads NIfTI NaN as 0: the loader must look itself
    sitk.WriteImage(toy_ct.with_array(arr).to_sitk(), str(tmp_path / "nan.nii.gz"))
    with pytest.raises(InputError, match="1 NaN"):
        load_ct(tmp_path / "nan.nii.gz")


def test_truncated_nifti_refused(toy_ct, tmp_path):
    path = tmp_path / "cut.nii"
    sitk.WriteImage(toy_ct.to_sitk(), str(path))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InputError, match="cut.nii"):
        load_ct(path)


@pytest.mark.parametrize("name, message", [("missing.nii.gz", "no such file"), ("scan.xyz", "unsupported")])
def test_missing_and_unsupported(tmp_path, name, message):
    if name.endswith(".xyz"):
        (tmp_path / name).write_text("x")
    with pytest.raises(InputError, match=message):
        load_ct(tmp_path / name)


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="empty"):
        load_ct(tmp_path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_truncated_integer_files_refused(toy_ct, tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    sitk.WriteImage(toy_ct.with_array(toy_ct.array.astype(np.int16)).to_sitk(), str(path), True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=f"cut{suffix}"):
        load_ct(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_nan_refused_in_any_format(toy_ct, tmp_path, suffix):
    arr = toy_ct.array.copy()
    arr[-1, 0, 0] = np.inf
    sitk.WriteImage(toy_ct.with_array(arr).to_sitk(), str(tmp_path / f"bad{suffix}"))
    with pytest.raises(InputError, match="NaN or infinite"):
        load_ct(tmp_path / f"bad{suffix}")
