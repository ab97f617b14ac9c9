"""DICOM SEG read back with pydicom and highdicom: segments, codes, geometry, no patient identifiers."""

import numpy as np
import pydicom
import pytest
import highdicom as hd

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.export.dicom_seg import write_dicom_seg
from SpineFractureLib.io.dicom_write import write_dicom_series
from SpineFractureLib.io.loader import load_ct
from SpineFractureLib.terminology import LEVEL_CODES


@pytest.fixture(scope="module")
def dicom_ct(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dcm")
    case = make_phantom(4, PhantomConfig(size_xyz=(48, 48, 40), spacing=(2.0, 2.0, 3.0)))
    write_dicom_series(case.ct, folder / "series", patient_id="PHANTOM^SEG")
    labels = case.labels.array.copy()
    labels[(labels > 7) | (labels == 1)] = 0  # C1 absent: segment numbers must still run 1..n
    return load_ct(folder / "series"), labels


def test_dicom_seg_references_the_series_and_holds_the_levels_on_its_grid(dicom_ct, tmp_path):
    ct, labels = dicom_ct
    path = write_dicom_seg(tmp_path / "segmentation.dcm", ct, labels)
    seg = hd.seg.segread(path)
    source = pydicom.dcmread(ct.source_files[0])
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.SeriesInstanceUID != source.SeriesInstanceUID
    referenced = {r.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence
                  for r in s.ReferencedInstanceSequence}
    assert referenced <= {pydicom.dcmread(f).SOPInstanceUID for f in ct.source_files}
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["C2", "C3", "C4", "C5", "C6", "C7"]
    for s in seg.SegmentSequence:
        assert s.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "123037004"
        assert s.SegmentedPropertyTypeCodeSequence[0].CodeValue == LEVEL_CODES[s.SegmentLabel][0]
    # Every labelled voxel of the SEG maps back onto the same level of ours.
    vol = seg.get_volume(combine_segments=True, relabel=False)
    idx = np.argwhere(vol.array > 0)
    lps = np.c_[idx, np.ones(len(idx))] @ vol.affine.T
    ours = np.round(ct.lps_to_index(lps[:, :3])).astype(int)  # (i, j, k)
    got = labels[ours[:, 2], ours[:, 1], ours[:, 0]]
    assert np.array_equal(got, vol.array[tuple(idx.T)] + 1)  # segment n = level n + 1 (C1 absent)
    assert len(idx) == int((labels > 0).sum())


def test_dicom_seg_carries_no_patient_identifiers(dicom_ct, tmp_path):
    ct, labels = dicom_ct
    seg = pydicom.dcmread(write_dicom_seg(tmp_path / "s.dcm", ct, labels))
    assert str(seg.PatientName) == "" and seg.PatientID == "" and seg.get("PatientBirthDate", "") == ""
    assert "PHANTOM" not in str(seg)


def test_no_level_writes_no_seg_and_non_dicom_input_is_refused(dicom_ct, tmp_path):
    ct, labels = dicom_ct
    assert write_dicom_seg(tmp_path / "s.dcm", ct, np.zeros_like(labels)) is None
    assert not (tmp_path / "s.dcm").exists()
    ct.source_files, files = [], ct.source_files
    try:
        with pytest.raises(ValueError, match="DICOM"):
            write_dicom_seg(tmp_path / "s.dcm", ct, labels)
    finally:
        ct.source_files = files
