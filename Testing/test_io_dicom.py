"""DICOM series: writing, ordering by position, geometry, and every refused series."""

import dataclasses

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from SpineFractureLib.errors import InputError
from SpineFractureLib.io import load_ct
from SpineFractureLib.io.dicom_write import write_dicom_series
from SpineFractureLib.volume import CTVolume


def test_round_trip_oblique_series(toy_ct, oblique_direction, tmp_path):
    ct = toy_ct.with_array(toy_ct.array.round(), direction=oblique_direction)
    write_dicom_series(ct, tmp_path / "s")
    back = load_ct(tmp_path / "s")
    assert np.array_equal(back.array, np.clip(ct.array, -1024, None))
    assert np.allclose(back.spacing, ct.spacing, atol=1e-4)
    assert np.allclose(back.origin, ct.origin, atol=1e-3)
    assert np.allclose(back.direction, ct.direction, atol=1e-5)
    assert back.modality == "CT" and back.warnings == []
    assert len(back.source_files) == ct.array.shape[0]


def test_simpleitk_reads_the_written_series(toy_ct, tmp_path):
    write_dicom_series(toy_ct, tmp_path)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    image = reader.Execute()
    ours = load_ct(tmp_path)
    assert image.GetSize() == ours.shape_xyz
    assert np.allclose(image.GetOrigin(), ours.origin, atol=1e-3)
    assert np.allclose(sitk.GetArrayFromImage(image), ours.array)


def test_order_comes_from_position_not_names_or_instance_numbers(toy_ct, tmp_path):
    files = write_dicom_series(toy_ct, tmp_path / "s", head_first_instances=True)
    rng = np.random.default_rng(1)
    for f, new in zip(files, rng.permutation(len(files))):  # shuffle file names too
        f.rename(f.with_name(f"x{new:03d}.tmp"))
    for f in (tmp_path / "s").iterdir():
        f.rename(f.with_suffix(".dcm"))
    back = load_ct(tmp_path / "s")
    assert np.allclose(back.array, np.clip(toy_ct.array.round(), -1024, None), atol=1.0)
    assert np.allclose(back.origin, toy_ct.origin, atol=1e-3)


def test_rescale_slope_and_intercept_applied(toy_ct, tmp_path):
    files = write_dicom_series(toy_ct, tmp_path, rescale_intercept=-2048)
    ds = pydicom.dcmread(files[0])
    assert float(ds.RescaleIntercept) == -2048
    assert np.allclose(load_ct(tmp_path).array, toy_ct.array.round(), atol=1.0)


def test_picks_ct_series_with_most_slices_and_says_so(toy_ct, tmp_path):
    write_dicom_series(dataclasses.replace(toy_ct, array=toy_ct.array[:10]), tmp_path / "a", series_description="short")
    write_dicom_series(toy_ct, tmp_path / "b", series_description="long")
    write_dicom_series(toy_ct, tmp_path / "c", modality="MR", series_description="mr")
    back = load_ct(tmp_path)
    assert back.series_description == "long"
    assert back.array.shape == toy_ct.array.shape
    assert any("3 series" in w and "long" in w for w in back.warnings)


def test_one_file_selects_its_own_series(toy_ct, tmp_path):
    short = write_dicom_series(dataclasses.replace(toy_ct, array=toy_ct.array[:10]), tmp_path,
                               name_pattern="short{instance:03d}.dcm")
    long = write_dicom_series(toy_ct, tmp_path, name_pattern="long{instance:03d}.dcm")
    assert load_ct(short[0]).array.shape[0] == 10
    assert load_ct(long[0]).array.shape[0] == toy_ct.array.shape[0]


def test_uneven_spacing_is_regularised(toy_ct, tmp_path):
    files = write_dicom_series(toy_ct, tmp_path)
    step = toy_ct.spacing[2]
    for f in files[12:]:  # every slice from the 13th on moves 0.4 mm further up
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 0.4]
        ds.save_as(f)
    back = load_ct(tmp_path)
    assert any("uneven slice spacing" in w for w in back.warnings)
    assert back.spacing[2] == pytest.approx(step)
    extent = (toy_ct.array.shape[0] - 1) * step + 0.4
    assert back.array.shape[0] == int(np.floor(extent / step + 1e-6)) + 1


def test_gantry_tilt_is_desheared(tmp_path):
    # a vertical rod in the world, acquired with slices sheared 15 degrees along the column axis
    ny, nx, nz, dz, tilt = 32, 32, 20, 2.0, np.radians(15)
    rod_y = 16.0
    files = write_dicom_series(CTVolume(np.zeros((nz, ny, nx), np.float32), (1, 1, dz), (0, 0, 0)), tmp_path)
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        shift_y = k * dz * np.tan(tilt)  # slice k's origin moves along +y
        ds.ImagePositionPatient = [0.0, shift_y, k * dz]
        img = np.zeros((ny, nx), np.uint16) + 1024
        j = int(round(rod_y - shift_y))  # the rod's row in this slice
        img[j - 1:j + 2, 14:17] = 2024
        ds.PixelData = img.tobytes()
        ds.save_as(f)
    back = load_ct(tmp_path)
    assert any("gantry tilt of 15.0" in w for w in back.warnings)
    rows = [np.argwhere(back.array[k] > 500)[:, 0].mean() for k in range(nz)]
    assert np.allclose(rows, round(rod_y), atol=0.5)


def break_missing_slice(files, tmp_path):
    files[len(files) // 2].unlink()


def break_single_slice(files, tmp_path):
    for f in files[1:]:
        f.unlink()


def break_truncate(files, tmp_path):
    data = files[3].read_bytes()
    files[3].write_bytes(data[: len(data) // 2])


def break_duplicate(files, tmp_path):
    ds = pydicom.dcmread(files[5])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "s" / "dup.dcm")


def break_no_position(files, tmp_path):
    ds = pydicom.dcmread(files[2])
    del ds.ImagePositionPatient
    ds.save_as(files[2])


@pytest.mark.parametrize(
    "breaker, message",
    [
        (break_missing_slice, "missing slice"),
        (break_single_slice, "1 slice"),
        (break_truncate, "truncated"),
        (break_duplicate, "same position"),
        (break_no_position, "ImagePositionPatient"),
    ],
)
def test_broken_series_refused(toy_ct, tmp_path, breaker, message):
    files = write_dicom_series(toy_ct, tmp_path / "s")
    breaker(files, tmp_path)
    with pytest.raises(InputError, match=message) as err:
        load_ct(tmp_path / "s")
    assert str(tmp_path / "s") in str(err.value)


def test_mr_series_refused(toy_ct, tmp_path):
    write_dicom_series(toy_ct, tmp_path, modality="MR")
    with pytest.raises(InputError, match="MR"):
        load_ct(tmp_path)


def test_folder_without_dicom_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no DICOM"):
        load_ct(tmp_path)


def test_real_head_neck_series(shared_data):
    vol = load_ct(shared_data / "ct-head-neck-dicom")
    assert vol.shape_xyz == (64, 64, 93)
    assert np.allclose(vol.spacing, (3.2, 3.2, 1.5))
    assert len(vol.source_files) == 93
    # sorted by position: file names run CTHead1..93 but must be read by position
    positions = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
                 for f in vol.source_files]
    assert positions == sorted(positions)
    assert any("--hu-offset -1024" in w for w in vol.warnings)
    fixed = load_ct(shared_data / "ct-head-neck-dicom", auto_hu_correction=True)
    assert fixed.array.min() == -1024 and fixed.array.max() == vol.array.max() - 1024
    assert np.isclose(np.median(fixed.array[(fixed.array > -300) & (fixed.array < 300)]), 40, atol=80)


def test_no_patient_identifiers_in_warnings_or_logs(toy_ct, tmp_path, caplog):
    write_dicom_series(dataclasses.replace(toy_ct, array=toy_ct.array[:5]), tmp_path / "a", patient_id="DOE^JANE")
    write_dicom_series(toy_ct, tmp_path / "b", patient_id="DOE^JANE")
    caplog.set_level("DEBUG")
    vol = load_ct(tmp_path)
    assert "DOE" not in " ".join(vol.warnings) + caplog.text
    assert vol.warnings  # the two-series warning was produced, and it is clean
