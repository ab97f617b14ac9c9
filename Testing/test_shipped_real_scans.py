"""The shipped segmentation on the real CTs in ../shared/data: nothing invented where no cervical spine is.

None of these scans has C1–C7 labels, so the tests check what a reader would: the VerSe scan
(T10–L3) holds no cervical vertebra, so every level is absent; the chest CT holds only the lowest
cervical levels in its top slices, so no level may lie lower down in the chest; the head-and-neck
CT shows C1–C5 in order, head to feet, and so does the same series ending in C5 or C4.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from SpineFractureLib.cli import main
from SpineFractureLib.constants import LEVELS
from SpineFractureLib.io import load_ct
from SpineFractureLib.metrics.segmentation import centroids_lps
from SpineFractureLib.pipeline.analyze import NO_SPINE
from SpineFractureLib.pipeline.segment import Segmenter

#: How far (mm) below the chest CT's top slice a cervical level can lie: C7 and at most C6 are in view.
CHEST_CERVICAL_MM = 60.0


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter("default", "cpu")


def test_a_scan_without_a_cervical_spine_gets_every_level_absent(shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    scan = shared_data / "verse-sub-verse012" / "sub-verse012_ct.nii.gz"
    code = main(["analyze", str(scan), "--out", str(out), "--device", "cpu"])
    _, err = capsys.readouterr()
    assert code == 0
    findings = json.loads((out / "findings.json").read_text())
    assert [v["present"] for v in findings["vertebrae"]] == [False] * 7
    assert all(v["fracture_probability"] is None and v["volume_ml"] is None for v in findings["vertebrae"])
    assert NO_SPINE in findings["warnings"] and NO_SPINE in err
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "segmentation.nii.gz")))
    assert labels.shape == load_ct(scan).array.shape and not labels.any()


def test_no_cervical_level_is_placed_down_in_the_chest(shared_data, segmenter):
    ct = load_ct(shared_data / "ctchest4-slicer" / "CTChest4.nrrd")
    result = segmenter.segment(ct)
    top_z = max(ct.index_to_lps(np.array([[0, 0, k] for k in (0, ct.shape_xyz[2] - 1)], float))[:, 2])
    placed = {lv: c for lv, c in centroids_lps(result.labels).items() if c is not None}
    low = {lv: round(float(top_z - c[2])) for lv, c in placed.items() if top_z - c[2] > CHEST_CERVICAL_MM}
    assert not low, f"levels placed this many mm below the top of a chest CT: {low}"
    # Whatever was dropped is said, level by level (since session 33 the localizer's top-run rule
    # finds no cervical spine in its 10 mm slices, and says what that discards).
    assert result.notes and all("discarded" in note for note in result.notes)


def test_the_head_and_neck_scan_keeps_c1_to_c5_in_order_and_the_cut_c6_apart(shared_data, segmenter):
    """C1-C5 in order, head to feet, and the body cut by the scan's bottom edge is C6 on its own:
    until session 23 it was merged into C5 (the 1 mm mask grows C2-C6 into one piece, and C5's
    share of its level votes was under the 10 % a level needed to be split off)."""
    ct = load_ct(shared_data / "ct-head-neck-dicom", auto_hu_correction=True)
    result = segmenter.segment(ct)
    placed = {lv: c for lv, c in centroids_lps(result.labels).items() if c is not None}
    assert list(placed) == list(LEVELS[:6]), result.notes
    heights = [placed[lv][2] for lv in LEVELS[:6]]
    assert heights == sorted(heights, reverse=True)  # LPS z grows towards the head
    assert 8.0 <= heights[4] - heights[5] <= 20.0  # C5 and C6 one vertebra apart, not one body split
    ends = [float(ct.index_to_lps(np.array([0.0, 0.0, k]))[2]) for k in (0, ct.array.shape[0] - 1)]
    assert 0.0 < heights[5] - min(ends) < 15.0  # C6 at the scan's lower edge (LPS z: towards the head)
    assert result.notes == []


@pytest.mark.parametrize("bottom_mm, levels", [(17.0, 5), (28.0, 4)])
def test_the_head_and_neck_scan_ending_in_c5_or_c4_keeps_its_levels_in_order(shared_data, segmenter, bottom_mm, levels):
    """The series with its slices below LPS z 17 or 28 mm removed, as a head CT that ends half-way
    through C5's or C4's body: C1-C5 or C1-C4 in order. Until 0.5.0 they got no level at all
    (segmentation card, "Known failure (session 30)")."""
    ct = load_ct(shared_data / "ct-head-neck-dicom", auto_hu_correction=True)
    z = np.array([ct.index_to_lps(np.array([0.0, 0.0, float(k)]))[2] for k in range(ct.array.shape[0])])
    keep = np.flatnonzero(z >= bottom_mm)
    cut = ct.sub_volume((int(keep.min()), 0, 0), (int(keep.max()) + 1, *ct.array.shape[1:]))
    result = segmenter.segment(cut)
    placed = {lv: c for lv, c in centroids_lps(result.labels).items() if c is not None}
    assert list(placed) == list(LEVELS[:levels]), result.notes
    heights = [placed[lv][2] for lv in LEVELS[:levels]]
    assert heights == sorted(heights, reverse=True)
    # Each level where the whole series has it (C5's body is cut, so its centroid moves up).
    whole = {"C1": 80.2, "C2": 64.7, "C3": 47.7, "C4": 32.5}
    assert all(abs(placed[lv][2] - z_mm) < 5.0 for lv, z_mm in whole.items() if lv in placed), placed


def test_a_slab_without_a_column_gets_no_level(segmenter, monkeypatch):
    # The bottom 8 mm of a phantom neck hold part of T2: 0.3.0-0.4.0's networks outlined it (as
    # "C6" before this check; 0.5.0's outline nothing), but with no 3 cm column in view nothing
    # can be placed on a cervical spine.
    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
    from SpineFractureLib.models.level_checks import LevelCheck
    from SpineFractureLib.pipeline import segment

    case = make_phantom(950010, PhantomConfig(size_xyz=(160, 160, 200), spacing=(1.0, 1.0, 1.0), pose=False))
    slab = case.ct.sub_volume((0, 0, 0), (8, 160, 160))
    assert np.any(case.labels.array[:8] == 9)  # T2 is in the slab
    result = segmenter.segment(slab)
    assert not result.box.column_found
    assert not result.labels.array.any() and not result.crop_labels.array.any()
    # Networks that outline the slab's bone as "C6", as the older ones did: still nothing, and said.
    bone = segment.assign_levels

    def outlined_as_c6(vertebra, levels):
        return np.where(vertebra, 6, bone(vertebra, levels)).astype(np.uint8)

    monkeypatch.setattr(segment, "assign_levels", outlined_as_c6)
    monkeypatch.setattr(segment, "check_levels", lambda labels, spacing: LevelCheck(labels))
    result = segmenter.segment(slab)
    assert not result.labels.array.any() and not result.crop_labels.array.any()
    assert any("no vertebral column" in note and "C6" in note for note in result.notes), result.notes
