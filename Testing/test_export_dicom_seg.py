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


def test_a_series_without_frame_of_reference_gets_no_seg_but_the_analysis_outputs(dicom_ct, tmp_path):
    """The real sample series lacks FrameOfReferenceUID: the SEG cannot reference it, the rest is written."""
    from SpineFractureLib.export.findings import Findings
    from SpineFractureLib.pipeline.analyze import Analysis
    from SpineFractureLib.pipeline.outputs import write_outputs

    ct, labels = dicom_ct
    copies = tmp_path / "nofor"
    copies.mkdir()
    files = []
    for i, path in enumerate(ct.source_files):
        ds = pydicom.dcmread(path)
        del ds.FrameOfReferenceUID
        ds.save_as(copies / f"{i:04d}.dcm")
        files.append(str(copies / f"{i:04d}.dcm"))
    grid = ct.with_array(ct.array, source_files=files)
    with pytest.raises(ValueError, match="Frame Of Reference"):
        write_dicom_seg(tmp_path / "s.dcm", grid, labels)
    findings = Findings(input={"size": list(grid.shape_xyz), "spacing_mm": list(grid.spacing), "modality": "CT"})
    written = write_outputs(Analysis(grid, grid.with_array(labels), None, findings), tmp_path / "out")
    names = {p.name for p in written}
    assert "segmentation.dcm" not in names and {"findings.json", "segmentation.nii.gz"} <= names
    assert any("no DICOM SEG" in w for w in findings.warnings)
