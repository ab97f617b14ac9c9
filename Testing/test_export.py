"""Exports read back by independent readers: NIfTI (nibabel, SimpleITK), .seg.nrrd (slicerio, and
key by key against the Slicer-written file in ../shared/data), findings.json / .csv."""

import csv
import io
import json
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from SpineFractureLib.io.image_files import read_mask_on_grid
from SpineFractureLib.constants import LEVELS
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.export import Findings, add_measurements, validate_findings, write_findings
from SpineFractureLib.export.seg_nrrd import write_seg_nrrd
from SpineFractureLib.export.volumes import write_heatmap, write_labels
from SpineFractureLib.io.staging import staged_file
from SpineFractureLib.measure import measure_levels
from SpineFractureLib.terminology import LEVEL_CODES, LEVEL_COLOURS

SLICER_SEG = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctchest4-slicer" / "Segmentation.seg.nrrd"
TURNED = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def case():
    c = make_phantom(4, PhantomConfig(size_xyz=(64, 72, 80), spacing=(1.4, 1.3, 2.0), direction=TURNED,
                                      cut_probability=0.0))
    labels = c.labels.array.copy()
    labels[labels > 7] = 0
    labels[labels == 7] = 0  # one level absent
    return c, labels


def test_nifti_label_and_heat_maps_keep_the_input_geometry(case, tmp_path):
    c, labels = case
    path = write_labels(tmp_path / "segmentation.nii.gz", c.ct, labels)
    img = nib.load(path)
    assert img.get_data_dtype() == np.uint8
    assert np.array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), labels)  # nibabel is (i, j, k)
    np.testing.assert_allclose(img.affine, c.ct.ijk_to_ras(), atol=1e-4)  # NIfTI is RAS on disk
    heat = np.random.default_rng(0).random(labels.shape).astype(np.float32) * 1.5
    back = sitk.ReadImage(str(write_heatmap(tmp_path / "gradcam.nii.gz", c.ct, heat)))
    assert back.GetPixelID() == sitk.sitkFloat32
    arr = sitk.GetArrayFromImage(back)
    assert arr.max() <= 1.0 and np.allclose(arr, np.clip(heat, 0, 1))
    np.testing.assert_allclose(np.array(back.GetDirection()).reshape(3, 3), TURNED, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradcam.nii.gz", "segmentation.nii.gz"]
    with pytest.raises(ValueError):
        write_labels(tmp_path / "bad.nii.gz", c.ct, labels[:-1])


def test_seg_nrrd_names_colours_terminology_and_geometry(case, tmp_path):
    c, labels = case
    path = write_seg_nrrd(tmp_path / "segmentation.seg.nrrd", c.ct, labels)
    seg = slicerio.read_segmentation(str(path))
    assert [s["name"] for s in seg["segments"]] == list(LEVELS[:6])  # C7 absent: no empty segment
    # as Slicer writes it: the block holding the segments, placed by its origin and extent offset
    offset = seg["referenceImageExtentOffset"]
    np.testing.assert_allclose(seg["ijkToLPS"][:3, :3], c.ct.ijk_to_lps()[:3, :3], atol=1e-9)
    np.testing.assert_allclose(seg["ijkToLPS"][:3, 3], c.ct.index_to_lps(np.array(offset, float)), atol=1e-6)
    assert seg["voxels"].shape != c.ct.shape_xyz
    placed = np.zeros(c.ct.shape_xyz, np.uint8)
    i, j, k = offset
    si, sj, sk = seg["voxels"].shape
    placed[i:i + si, j:j + sj, k:k + sk] = seg["voxels"]
    np.testing.assert_array_equal(placed.transpose(2, 1, 0), labels)
    np.testing.assert_array_equal(read_mask_on_grid(path, c.ct).array, labels)  # the project's own reader
    for s in seg["segments"]:
        code, meaning = LEVEL_CODES[s["name"]]
        assert s["terminology"]["category"] == ["SCT", "123037004", "Anatomical Structure"]
        assert s["terminology"]["type"] == ["SCT", code, meaning]
        np.testing.assert_allclose(s["color"], LEVEL_COLOURS[LEVELS.index(s["name"])])
        where = np.nonzero(seg["voxels"] == s["labelValue"])
        assert s["extent"] == [int(v) for axis in where for v in (axis.min(), axis.max())]  # relative to the block


@pytest.mark.skipif(not SLICER_SEG.is_file(), reason="../shared/data is not beside the checkout")
def test_seg_nrrd_header_has_the_keys_slicer_writes(case, tmp_path):
    c, labels = case
    ours = nrrd.read_header(str(write_seg_nrrd(tmp_path / "s.seg.nrrd", c.ct, labels)))
    slicers = nrrd.read_header(str(SLICER_SEG))

    def keys(h):
        top = {k for k in h if not k.startswith("Segment") or k.startswith("Segmentation_")}
        per = {k.split("_", 1)[1] for k in h if k.startswith("Segment0_")}
        return top, per

    assert keys(ours) == keys(slicers)
    assert ours["space"] == slicers["space"] == "left-posterior-superior"
    geometry = ours["Segmentation_ConversionParameters"].split("|")
    assert geometry[0] == "Reference image geometry"
    numbers = [float(x) for x in geometry[1].rstrip(";").split(";")]
    np.testing.assert_allclose(np.reshape(numbers[:16], (4, 4)), c.ct.ijk_to_ras(), atol=1e-9)
    assert numbers[16:] == [0, 63, 0, 71, 0, 79]


def _findings(case):
    c, labels = case
    f = Findings(input={"size": list(c.ct.shape_xyz), "spacing_mm": list(c.ct.spacing), "modality": "CT"},
                 threshold=0.5, operating_point="balanced", device="cpu")
    add_measurements(f, measure_levels(c.ct, labels))
    f.level("C3").fracture_probability, f.level("C3").fracture = 0.8, True
    f.patient = {"fracture_probability": 0.8, "fracture": True}
    f.timings_s = {"total": 1.5}
    return f


def test_findings_json_validates_reads_back_and_csv_has_one_row_per_level(case, tmp_path):
    f = _findings(case)
    json_path, csv_path = write_findings(tmp_path, f)
    doc = json.loads(json_path.read_text())
    validate_findings(doc)
    assert [v["level"] for v in doc["vertebrae"]] == list(LEVELS)
    c7 = doc["vertebrae"][6]
    assert c7["present"] is False and c7["volume_ml"] is None and c7["heights_mm"] is None
    assert doc["vertebrae"][0]["heights_mm"] is None and doc["vertebrae"][0]["volume_ml"] > 0  # C1: no body
    assert Findings.from_dict(doc) == f
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [r["level"] for r in rows] == list(LEVELS)
    assert rows[2]["fracture_probability"] == "0.8" and rows[6]["present"] == "False" and rows[6]["volume_ml"] == ""
    assert float(rows[3]["height_anterior_mm"]) == pytest.approx(doc["vertebrae"][3]["heights_mm"]["anterior"])


def test_invalid_findings_are_refused_and_nothing_is_written(case, tmp_path):
    f = _findings(case)
    f.level("C2").fracture_probability = 1.7
    with pytest.raises(ValueError, match="vertebrae/1/fracture_probability"):
        write_findings(tmp_path, f)
    f = _findings(case)
    f.operating_point = "optimistic"
    with pytest.raises(ValueError, match="operating_point"):
        write_findings(tmp_path, f)
    doc = _findings(case).to_dict()
    doc["input"]["patient_name"] = "x"  # no room for identifiers
    with pytest.raises(ValueError, match="input"):
        validate_findings(doc)
    assert list(tmp_path.iterdir()) == []


def test_a_writer_failing_midway_leaves_no_file(tmp_path):
    target = tmp_path / "segmentation.nii.gz"
    with pytest.raises(RuntimeError):
        with staged_file(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
