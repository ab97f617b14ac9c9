"""Case folders (DICOM or NIfTI CT + labels + fracture + truth) round-trip exactly."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from SpineFractureLib.data.case_io import read_case, write_case
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.errors import InputError


@pytest.fixture(scope="module")
def case():
    return make_phantom(11, PhantomConfig(size_xyz=(64, 56, 90), spacing=(2.0, 2.2, 2.5), fracture_rate=1.0,
                                          difficulty=0.0))


@pytest.mark.parametrize("fmt", ["nifti", "dicom"])
def test_round_trip(case, tmp_path, fmt):
    write_case(case, tmp_path / "c", fmt)
    back = read_case(tmp_path / "c")
    assert back.case_id == case.case_id
    atol = 0.5 if fmt == "dicom" else 1e-4  # DICOM stores whole HU
    assert np.allclose(back.ct.array, case.ct.array, atol=atol)
    assert np.allclose(back.ct.origin, case.ct.origin, atol=1e-3)
    assert np.allclose(back.ct.spacing, case.ct.spacing, atol=1e-4)
    assert np.array_equal(back.labels.array, case.cervical_labels())
    assert np.array_equal(back.fracture.array, case.fracture.array)
    assert back.truth == json.loads(json.dumps(case.truth))


def test_mask_on_another_grid_refused(case, tmp_path):
    write_case(case, tmp_path / "c", "nifti")
    img = sitk.ReadImage(str(tmp_path / "c" / "labels.nii.gz"))
    img.SetOrigin(tuple(o + 3.0 for o in img.GetOrigin()))
    sitk.WriteImage(img, str(tmp_path / "c" / "labels.nii.gz"))
    with pytest.raises(InputError, match="labels.nii.gz"):
        read_case(tmp_path / "c")


def test_failed_write_leaves_nothing(case, tmp_path, monkeypatch):
    import SpineFractureLib.data.case_io as case_io

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(case_io, "write_dicom_series", boom)
    with pytest.raises(RuntimeError):
        write_case(case, tmp_path / "c", "dicom")
    assert list(tmp_path.iterdir()) == []
