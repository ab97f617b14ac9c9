"""Bad input found by trying the product as a new user would: each refused by `analyze` with exit 2,
one line naming the file and the problem, no traceback, no library warning, no output folder."""

import nibabel as nib
import numpy as np

from SpineFractureLib.cli.main import main
from SpineFractureLib.io.dicom_write import write_dicom_series
from SpineFractureLib.volume import CTVolume


def _refused(capfd, tmp_path, input_path, *needles):
    out = tmp_path / "out"
    assert main(["analyze", str(input_path), "--out", str(out), "--device", "cpu"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line: no ITK or nibabel warning leaks through
    assert str(input_path) in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert not out.exists()


def _nifti(path, data, affine, zooms=None):
    img = nib.Nifti1Image(data.astype(np.int16), affine)
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, path)
    return path


def _ct(shape=(20, 40, 40), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0), seed=0):
    rng = np.random.default_rng(seed)
    return CTVolume(rng.normal(40, 200, shape).astype(np.float32), spacing, origin)


def test_a_dicom_series_mixing_matrix_sizes_is_refused(tmp_path, capfd):
    folder = tmp_path / "mixed"
    uids = dict(study_uid="1.2.826.0.1.3680043.8.498.1", series_uid="1.2.826.0.1.3680043.8.498.2")
    write_dicom_series(_ct(), folder, name_pattern="a{instance:04d}.dcm", **uids)
    write_dicom_series(_ct((20, 20, 20), (2.0, 2.0, 2.0), (0.0, 0.0, 1.0), seed=1), folder,
                       name_pattern="b{instance:04d}.dcm", **uids)  # the same series, half the matrix
    _refused(capfd, tmp_path, folder, "mixes slice sizes", "40×40", "20×20")


def test_a_nifti_with_zero_voxel_spacing_is_refused(tmp_path, capfd):
    path = _nifti(tmp_path / "flat.nii", np.random.default_rng(0).integers(-1000, 1000, (8, 8, 8)), np.eye(4))
    raw = bytearray(path.read_bytes())
    raw[88:92] = np.float32(0.0).tobytes()  # pixdim[3]: the slice spacing, as a broken exporter writes it
    path.write_bytes(bytes(raw))
    _refused(capfd, tmp_path, path, "voxel size", "positive")


def test_a_nifti_with_sheared_axes_is_refused(tmp_path, capfd):
    affine = np.eye(4)
    affine[:3, 1] = [0.5, 0.866, 0.0]  # j axis 60 degrees from i
    img = nib.Nifti1Image(np.random.default_rng(0).integers(-1000, 1000, (8, 8, 8)).astype(np.int16), affine)
    img.set_sform(affine, code=1)
    img.set_qform(None, code=0)
    nib.save(img, tmp_path / "sheared.nii.gz")
    _refused(capfd, tmp_path, tmp_path / "sheared.nii.gz", "not orthogonal", "60.0 degrees")


def test_a_volume_whose_voxels_all_have_one_value_is_refused(tmp_path, capfd):
    path = _nifti(tmp_path / "blank.nii.gz", np.full((10, 10, 10), -1024), np.eye(4))
    _refused(capfd, tmp_path, path, "same value", "-1024")
