"""The module's workflow through the real CLI child process, on a real MRML scene (slicer-core):
analyze, results into MRML, review, correct and reclassify, export, training case, cancel, errors.

The CLI runs the shipped segmentation and a small untrained classifier: these tests check the
plumbing and the contracts, not accuracy.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import psutil
import pytest

from conftest import e2e_case
from slicer_scene import node_count, scene_with_views

import SpineFractureLogic as logic  # noqa: E402
from SpineFractureLib.constants import LEVELS  # noqa: E402
from SpineFractureLib.data.cls_cases import fractured_vector  # noqa: E402
from SpineFractureLib.data.case_io import read_case  # noqa: E402
from SpineFractureLib.data.labelled_dirs import list_classification_cases  # noqa: E402
from SpineFractureLib.export.findings import validate_findings  # noqa: E402
from SpineFractureLib.io import load_ct  # noqa: E402
from SpineFractureLib.io.image_files import read_mask_on_grid  # noqa: E402
from SpineFractureLib.terminology import terminology_dict  # noqa: E402
from SpineFractureLib.volume import CTVolume  # noqa: E402

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A phantom DICOM series loaded into a scene, analysed through the CLI, results loaded."""
    root = tmp_path_factory.mktemp("slicer-workflow")
    case = e2e_case(root)
    ct = load_ct(root / "dicom")
    scene = scene_with_views()
    ct_node = logic.volume_node_from_ct(scene, ct, "Neck")
    before = node_count(scene)
    run = logic.start_analysis(ct_node, root / "work", sys.executable, device="cpu", classifier=str(root / "cls.pt"))
    fractions = []
    deadline = time.monotonic() + TIMEOUT_S
    while run.poll() and time.monotonic() < deadline:
        fractions.append(run.fraction)
        time.sleep(0.2)
    assert run.returncode == 0, run.log
    nodes_during_run = before  # nothing was added while it ran (checked below)
    assert node_count(scene) == nodes_during_run
    results = logic.load_results(scene, ct_node, root / "work" / "out")
    return dict(root=root, scene=scene, ct=ct, ct_node=ct_node, run=run, fractions=fractions, results=results,
                case=case)


def test_run_reports_progress_and_results_load_into_mrml(analysed):
    run, results, ct_node = analysed["run"], analysed["results"], analysed["ct_node"]
    assert run.fraction == 1.0 and run.message == "done"
    assert analysed["fractions"] == sorted(analysed["fractions"])  # progress only moves forward
    seg = results.segmentation.GetSegmentation()
    names = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
    assert len(names) >= 5 and names == [lv for lv in LEVELS if lv in names]
    assert results.segmentation.GetNodeReference(results.segmentation.GetReferenceImageGeometryReferenceRole()) \
        is ct_node
    assert results.table.GetNumberOfRows() == 7
    findings = logic.table_findings(results.table)
    assert findings.model["classification"]["name"] == "untrained-test"
    assert [v.level for v in findings.vertebrae if v.present] == names
    heat = logic.ct_from_volume_node(results.heatmap)
    assert heat.same_grid(logic.ct_from_volume_node(ct_node)) and 0.0 <= heat.array.min() <= heat.array.max() <= 1.0
    composite = analysed["scene"].GetNodesByClass("vtkMRMLSliceCompositeNode").GetItemAsObject(0)
    assert composite.GetForegroundVolumeID() == results.heatmap.GetID()
    assert logic.analysis.result_nodes(results.table).segmentation is results.segmentation


def test_input_written_by_the_storage_node_is_the_node_grid(tmp_path, oblique_direction):
    scene = scene_with_views()
    rng = np.random.default_rng(2)
    ct = CTVolume(rng.normal(0, 300, (9, 10, 11)).astype(np.float32), spacing=(0.6, 0.7, 2.0),
                  origin=(-5.0, 40.0, 12.0), direction=oblique_direction)
    node = logic.volume_node_from_ct(scene, ct)
    back = load_ct(logic.write_input(node, tmp_path))
    assert back.same_grid(ct, tol_mm=1e-4)
    np.testing.assert_allclose(back.array, ct.array, atol=1e-3)


def test_reclassify_sees_the_edit_and_keeps_it(analysed):
    scene, ct_node, results, root = analysed["scene"], analysed["ct_node"], analysed["results"], analysed["root"]
    labels, _ = logic.labels_from_segmentation_node(results.segmentation, ct_node)
    before = logic.table_findings(results.table)
    level = "C4"
    value = LEVELS.index(level) + 1
    z_of_voxels = np.nonzero(labels == value)[0]
    edited = labels.copy()
    erase = (labels == value) & (np.arange(labels.shape[0])[:, None, None] <= np.median(z_of_voxels))
    edited[erase] = 0  # about half its voxels (the slices up to its median)
    assert 0.3 < erase.sum() / (labels == value).sum() < 0.7
    _replace_segment(scene, results.segmentation, ct_node, edited, level)
    logic.set_review(results.table, "C5", "accepted")
    assert logic.edited_since_classified(results.segmentation, ct_node)

    run = logic.start_reclassify(ct_node, results.segmentation, root / "reclassify", sys.executable, device="cpu",
                                 classifier=str(root / "cls.pt"))
    assert run.wait(TIMEOUT_S) == 0, run.log
    assert "classify" in run.args and "--mask" in run.args
    seg_id = results.segmentation.GetID()
    new = logic.load_results(scene, ct_node, root / "reclassify" / "out", previous=results)
    assert new.segmentation.GetID() == seg_id and new.table is results.table and new.heatmap is results.heatmap
    kept, _ = logic.labels_from_segmentation_node(new.segmentation, ct_node)
    np.testing.assert_array_equal(kept, edited)  # the user's edit is not overwritten
    mask = read_mask_on_grid(root / "reclassify" / logic.analysis.MASK_FILE, logic.ct_from_volume_node(ct_node))
    np.testing.assert_array_equal(mask.array, edited)
    after = logic.table_findings(results.table)
    # the classifier's run measured the edited mask: C4 lost what was erased
    expected = before.level(level).volume_ml * (1 - erase.sum() / (labels == value).sum())
    assert after.level(level).volume_ml == pytest.approx(expected, rel=0.05)
    assert after.level("C5").review == "accepted"
    assert not logic.edited_since_classified(results.segmentation, ct_node)


def _replace_segment(scene, segmentation_node, ct_node, labels, level):
    """What a Segment Editor edit does: the level's segment gets new voxels, the node stays."""
    value = LEVELS.index(level) + 1
    temp = logic.segmentation_node_from_labels(scene, np.where(labels == value, labels, 0), ct_node, show_3d=False)
    seg = segmentation_node.GetSegmentation()
    seg.RemoveSegment(level)
    seg.CopySegmentFromSegmentation(temp.GetSegmentation(), level)
    scene.RemoveNode(temp)


def test_export_of_the_reviewed_result_reads_back(analysed, tmp_path):
    import highdicom as hd
    import pydicom
    import slicerio

    ct, ct_node, results = analysed["ct"], analysed["ct_node"], analysed["results"]
    logic.set_threshold(results.table, 0.3)
    present = [v.level for v in logic.table_findings(results.table).vertebrae if v.present]
    logic.set_review(results.table, present[0], "rejected")
    spine = logic.SpineFractureLogic(scene=analysed["scene"])
    written = spine.exportReview(str(tmp_path), ct_node, results, dicomFiles=ct.source_files)
    names = {p.name for p in written}
    assert {"segmentation.seg.nrrd", "segmentation.nii.gz", "segmentation.dcm", "gradcam.nii.gz", "findings.json",
            "findings.csv", "report.png", "report.html"} == names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    labels, _ = logic.labels_from_segmentation_node(results.segmentation, ct_node)
    seg = slicerio.read_segmentation(str(tmp_path / "segmentation.seg.nrrd"))
    by_name = {s["name"]: s for s in seg["segments"]}
    assert sorted(by_name) == sorted(present)
    for level in present:
        assert by_name[level]["terminology"]["type"] == terminology_dict(level)["type"]
    own = read_mask_on_grid(tmp_path / "segmentation.seg.nrrd", ct)  # the project's own loader
    np.testing.assert_array_equal(own.array, labels)
    np.testing.assert_array_equal(read_mask_on_grid(tmp_path / "segmentation.nii.gz", ct).array, labels)

    doc = json.loads((tmp_path / "findings.json").read_text())
    validate_findings(doc)
    assert doc["threshold"] == 0.3 and doc["operating_point"] == "user"
    assert doc["vertebrae"][LEVELS.index(present[0])]["review"] == "rejected"
    assert "SECRET" not in (tmp_path / "findings.json").read_text()

    dcm = pydicom.dcmread(tmp_path / "segmentation.dcm")
    assert dcm.Modality == "SEG" and "SECRET" not in str(dcm.PatientName) + str(dcm.PatientID)
    assert [s.SegmentLabel for s in hd.seg.Segmentation.from_dataset(dcm).SegmentSequence] == present

    assert spine.exportWouldReplace(str(tmp_path)) and not spine.exportWouldReplace(str(tmp_path / "new"))
    with pytest.raises(FileExistsError, match="already holds"):
        spine.exportReview(str(tmp_path), ct_node, results)
    spine.saveScenePicture(str(tmp_path / "screenshot.png"), ct_node, results)  # the widget's fallback
    assert (tmp_path / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spine.exportReview(str(tmp_path), ct_node, results, overwrite=True)


def test_training_case_export_reads_back_as_training_data(analysed, tmp_path):
    ct_node, results = analysed["ct_node"], analysed["results"]
    findings = logic.table_findings(results.table)
    present = [v for v in findings.vertebrae if v.present]
    logic.set_review(results.table, present[0].level, "accepted")
    logic.set_review(results.table, present[1].level, "rejected")
    logic.set_review(results.table, present[2].level, None)
    case_dir = logic.export_training_case(tmp_path, "corrected-001", ct_node, results.segmentation, results.table)
    case = read_case(case_dir)
    labels, _ = logic.labels_from_segmentation_node(results.segmentation, ct_node)
    np.testing.assert_array_equal(case.labels.array, labels)
    assert case.ct.same_grid(logic.ct_from_volume_node(ct_node), tol_mm=1e-3)
    listed = list_classification_cases(tmp_path)
    assert [name for name, _ in listed] == ["corrected-001"]
    vector = fractured_vector(listed[0][1]().truth)
    i0, i1, i2 = (LEVELS.index(v.level) for v in present[:3])
    assert vector[i0] == int(present[0].fracture) and vector[i1] == int(not present[1].fracture)
    assert vector[i2] == -1  # not reviewed: unknown to training
    with pytest.raises(ValueError, match="plain folder name"):
        logic.export_training_case(tmp_path, "../escape", ct_node, results.segmentation, results.table)


def test_cancel_ends_the_process_tree_and_leaves_the_scene_as_it_was(analysed, tmp_path):
    scene, ct_node = analysed["scene"], analysed["ct_node"]
    before = node_count(scene)
    run = logic.start_analysis(ct_node, tmp_path, sys.executable, device="cpu")
    deadline = time.monotonic() + 60
    while run.poll() and run.fraction == 0.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = run._proc.pid
    run.cancel()
    assert run.returncode == logic.CANCELLED and not run.poll()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert node_count(scene) == before
    assert not (tmp_path / "out").exists()


def test_a_failed_run_reports_the_cli_error_line(tmp_path):
    args = logic.cli_command(sys.executable, "analyze", tmp_path / "missing.nii.gz", tmp_path / "out", device="cpu")
    run = logic.CliRun(args).start()
    assert run.wait(TIMEOUT_S) == 2
    assert "missing.nii.gz" in run.error_message() and "no such file" in run.error_message()


def test_command_line_and_environment():
    args = logic.cli_command("PythonSlicer", "classify", "in.nrrd", "out", mask="m.nii.gz", device="cuda",
                             classifier="my.pt", threshold=0.25, gradcam=False)
    assert args[:4] == ["PythonSlicer", "-m", "SpineFractureLib", "classify"]
    assert args[args.index("--mask") + 1] == "m.nii.gz" and args[args.index("--threshold") + 1] == "0.25"
    assert "--progress-json" in args and "--no-gradcam" in args and args[args.index("--device") + 1] == "cuda"
    with pytest.raises(ValueError):
        logic.cli_command("PythonSlicer", "classify", "in.nrrd", "out")
    with pytest.raises(ValueError):
        logic.cli_command("PythonSlicer", "analyze", "in.nrrd", "out", device="gpu")
    env = logic.cli_environment({"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(":")[0] == str(logic.cli_process.library_root())
    assert env["PYTHONPATH"].endswith("/elsewhere")
    assert logic.parse_progress('{"fraction": 0.42, "message": "segmenting"}') == (0.42, "segmenting")
    assert logic.parse_progress("warning: something") is None and logic.parse_progress("{broken") is None
