"""RSNA 2022 layout: round trips, the segmentation quirk on disk, CSV contents, refused inputs."""

import csv

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from SpineFractureLib.data.case import LEVELS, LabelledCase
from SpineFractureLib.data.rsna import RSNADataset, read_rsna_case, read_rsna_study
from SpineFractureLib.data.rsna_write import study_uid_for, write_rsna_dataset
from SpineFractureLib.data.toy_ct import make_toy_ct
from SpineFractureLib.errors import InputError
from SpineFractureLib.volume import CTVolume


def make_case(case_id, size_xyz=(40, 36, 24), spacing=(1.2, 1.1, 2.5), direction=None,
              origin=None, seed=0, fractured=("C2", "C6")):
    """A toy CT with labels 8 (T1) at the bottom then C7..C1 upwards, in off-centre blocks of
    different widths (so any flip or transpose moves them), and an L-shaped fracture in C2."""
    ct = make_toy_ct(size_xyz=size_xyz, spacing=spacing, seed=seed)
    ct = ct.with_array(np.rint(ct.array),  # whole HU: DICOM stores integers
                       direction=np.eye(3) if direction is None else direction,
                       origin=ct.origin if origin is None else origin)
    nx, ny, nz = size_xyz
    labels = np.zeros((nz, ny, nx), np.uint8)
    bounds = np.linspace(1, nz - 2, 9).astype(int)  # 8 blocks, empty first and last slices
    for n, label in enumerate([8, 7, 6, 5, 4, 3, 2, 1]):
        labels[bounds[n]:bounds[n + 1], 4 + n % 3:ny // 2 + n, 3:nx // 3 + 2 * n] = label
    fracture = np.zeros_like(labels)
    k2 = int(np.flatnonzero((labels == 2).any(axis=(1, 2)))[0])
    fracture[k2, 6:12, 5:7] = 1
    fracture[k2, 10:12, 5:11] = 1  # the L's foot: a box is bigger than the mask
    fracture[k2 + 1, 7:9, 8:10] = 1
    present = set(np.unique(labels).tolist())
    truth = {"levels": {name: {"present": n + 1 in present, "fractured": name in fractured}
                        for n, name in enumerate(LEVELS)},
             "patient_fractured": bool(fractured)}
    return LabelledCase(case_id, ct, ct.with_array(labels), ct.with_array(fracture), truth)


def boxes_filled(mask):
    """Each slice's bounding box of ``mask`` filled: what RSNA's boxes can say about a mask."""
    out = np.zeros_like(mask)
    for k in range(mask.shape[0]):
        rows, cols = np.nonzero(mask[k])
        if rows.size:
            out[k, rows.min():rows.max() + 1, cols.min():cols.max() + 1] = 1
    return out


@pytest.fixture
def cases(oblique_direction):
    plain = make_case("phantom-1", seed=1)
    # anisotropic, non-square slices, oblique, off-origin: transposes and flips cannot hide
    oblique = make_case("phantom-2", size_xyz=(44, 30, 26), spacing=(0.7, 0.9, 2.0),
                        direction=oblique_direction, origin=(12.5, -40.0, 310.0), seed=2,
                        fractured=("C6",))
    return [plain, oblique]


@pytest.mark.parametrize("head_first", [True, False])
def test_round_trip(cases, tmp_path, head_first):
    write_rsna_dataset(cases, tmp_path / "rsna", head_first_instances=head_first)
    dataset = RSNADataset(tmp_path / "rsna")
    assert dataset.study_uids == [study_uid_for(c.case_id) for c in cases]
    for case, back in zip(cases, (dataset[i] for i in range(len(dataset)))):
        assert back.case_id == study_uid_for(case.case_id)
        assert np.array_equal(back.ct.array, np.clip(np.rint(case.ct.array), -1024, None))
        assert np.array_equal(back.labels.array, case.labels.array)
        assert back.labels.array.dtype == np.uint8
        assert np.allclose(back.ct.spacing, case.ct.spacing, atol=1e-4)
        assert np.allclose(back.ct.origin, case.ct.origin, atol=1e-3)
        assert np.allclose(back.ct.direction, case.ct.direction, atol=1e-5)
        assert np.array_equal(back.fracture.array, boxes_filled(case.fracture.array))
        assert back.truth == case.truth
        assert back.ct.warnings == []


def test_segmentation_is_stored_transposed_and_flipped(cases, tmp_path):
    write_rsna_dataset(cases, tmp_path)
    for case in cases:
        uid = study_uid_for(case.case_id)
        image = nib.load(tmp_path / "segmentations" / f"{uid}.nii")
        raw = np.asanyarray(image.dataobj)
        labels = case.labels.array  # (z, y, x), z in position order (feet to head)
        # the quirk: file axes (columns, rows reversed, slices feet to head)
        assert raw.dtype == np.uint8
        assert np.array_equal(raw, labels.transpose(2, 1, 0)[:, ::-1, :])
        # the idiom of Kaggle notebooks gives the slices in InstanceNumber order (1 = head)
        files = sorted((tmp_path / "train_images" / uid).glob("*.dcm"), key=lambda p: int(p.stem))
        kaggle = raw[:, ::-1, ::-1].transpose(2, 1, 0)
        assert np.array_equal(kaggle, labels[::-1])
        first, last = (pydicom.dcmread(f, stop_before_pixels=True) for f in (files[0], files[-1]))
        normal = case.ct.direction[:, 2]
        assert int(first.InstanceNumber) == 1 and files[0].name == "1.dcm"
        assert np.dot(first.ImagePositionPatient, normal) > np.dot(last.ImagePositionPatient, normal)
        assert first.StudyInstanceUID == uid
        # the header is geometrically right: ITK places every label where the CT has it
        seg = sitk.ReadImage(str(tmp_path / "segmentations" / f"{uid}.nii"))
        on_ct = sitk.Resample(seg, case.ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor)
        assert np.array_equal(sitk.GetArrayFromImage(on_ct), labels)
    plain_uid = study_uid_for(cases[0].case_id)
    plain_seg = nib.load(tmp_path / "segmentations" / f"{plain_uid}.nii")
    assert nib.aff2axcodes(plain_seg.affine) == ("L", "A", "S")  # as dcm2niix makes axial series


def test_reverse_numbering_matches_the_upward_idiom(cases, tmp_path):
    write_rsna_dataset(cases[:1], tmp_path, head_first_instances=False)
    uid = study_uid_for(cases[0].case_id)
    raw = np.asanyarray(nib.load(tmp_path / "segmentations" / f"{uid}.nii").dataobj)
    # 3rd-place solution, studies numbered feet to head: seg[:, ::-1].transpose(2, 1, 0)
    assert np.array_equal(raw[:, ::-1].transpose(2, 1, 0), cases[0].labels.array)
    assert pydicom.dcmread(tmp_path / "train_images" / uid / "1.dcm").ImagePositionPatient[2] == \
        pytest.approx(cases[0].ct.origin[2], abs=1e-3)


def test_csv_contents(cases, tmp_path):
    write_rsna_dataset(cases, tmp_path)
    with open(tmp_path / "train.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["StudyInstanceUID", "patient_overall", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    assert rows[1] == [study_uid_for("phantom-1"), "1", "0", "1", "0", "0", "0", "1", "0"]
    assert rows[2] == [study_uid_for("phantom-2"), "1", "0", "0", "0", "0", "0", "1", "0"]

    with open(tmp_path / "train_bounding_boxes.csv", newline="") as f:
        boxes = list(csv.reader(f))
    assert boxes[0] == ["StudyInstanceUID", "x", "y", "width", "height", "slice_number"]
    expected = []
    for case in cases:
        frac, nz = case.fracture.array, case.fracture.array.shape[0]
        for k in range(nz):
            rows_, cols = np.nonzero(frac[k])
            if rows_.size:
                expected.append([study_uid_for(case.case_id), cols.min(), rows_.min(),
                                 cols.max() - cols.min() + 1, rows_.max() - rows_.min() + 1, nz - k])
    expected.sort(key=lambda r: (r[0] != study_uid_for("phantom-1"), r[5]))
    assert boxes[1:] == [[str(v) for v in r] for r in expected]
    # a box row names the file holding its slice: the fracture is on that DICOM slice
    uid, x, y, w, h, n = boxes[1]
    pixels = pydicom.dcmread(tmp_path / "train_images" / uid / f"{n}.dcm").pixel_array
    assert pixels.shape == cases[0].ct.array.shape[1:]
    k = cases[0].ct.array.shape[0] - int(n)
    assert cases[0].fracture.array[k, int(y):int(y) + int(h), int(x):int(x) + int(w)].any()


def test_same_case_ids_give_same_uids_and_files(cases, tmp_path):
    write_rsna_dataset(cases[:1], tmp_path / "a")
    write_rsna_dataset(cases[:1], tmp_path / "b")
    uid = study_uid_for(cases[0].case_id)
    for name in ("train.csv", "train_bounding_boxes.csv", f"segmentations/{uid}.nii",
                 f"train_images/{uid}/1.dcm"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with pytest.raises(ValueError, match="phantom-1"):
        write_rsna_dataset([cases[0], cases[0]], tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_left_handed_case_is_written_in_slice_order(cases, tmp_path):
    case = cases[0]
    flipped = case.ct.direction.copy()
    flipped[:, 2] *= -1  # k runs head to feet
    top = case.ct.index_to_lps(np.array([0.0, 0.0, case.ct.array.shape[0] - 1]))

    def rev(v: CTVolume) -> CTVolume:
        return v.with_array(v.array[::-1].copy(), direction=flipped, origin=tuple(top))

    lefty = LabelledCase("lefty", rev(case.ct), rev(case.labels), rev(case.fracture), case.truth)
    write_rsna_dataset([lefty], tmp_path)
    back = RSNADataset(tmp_path)[0]
    assert np.allclose(back.ct.origin, case.ct.origin, atol=1e-3)
    assert np.array_equal(back.labels.array, case.labels.array)


def test_studies_without_segmentation(cases, tmp_path):
    write_rsna_dataset(cases, tmp_path)
    uid = study_uid_for("phantom-2")
    seg = tmp_path / "segmentations" / f"{uid}.nii"
    seg.unlink()
    dataset = RSNADataset(tmp_path)
    assert dataset.study_uids == [study_uid_for("phantom-1")]
    assert len(RSNADataset(tmp_path, segmented_only=False)) == 2
    assert not dataset.has_segmentation(uid)
    ct, truth = read_rsna_study(tmp_path, uid)
    assert ct.array.shape == cases[1].ct.array.shape
    assert truth["levels"]["C6"] == {"fractured": True} and truth["patient_fractured"]
    with pytest.raises(InputError, match="segmentation file missing") as err:
        read_rsna_case(tmp_path, uid)
    assert err.value.path == str(seg)


def test_missing_train_row_or_file(cases, tmp_path):
    write_rsna_dataset(cases, tmp_path)
    train = tmp_path / "train.csv"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[:2]) + "\n")  # drop phantom-2's row
    with pytest.raises(InputError, match="no row for study") as err:
        read_rsna_case(tmp_path, study_uid_for("phantom-2"))
    assert err.value.path == str(train)
    train.write_text(lines[0].replace("C7", "C8") + "\n")
    with pytest.raises(InputError, match="missing column"):
        RSNADataset(tmp_path)
    train.unlink()
    with pytest.raises(InputError, match="file missing") as err:
        RSNADataset(tmp_path)
    assert err.value.path == str(train)


def test_segmentation_on_another_grid(cases, tmp_path):
    write_rsna_dataset(cases, tmp_path)
    uid = study_uid_for("phantom-1")
    seg = tmp_path / "segmentations" / f"{uid}.nii"
    raw = np.asanyarray(nib.load(seg, mmap=False).dataobj)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(raw[:, :, 1:]), np.eye(4)), seg)  # one slice short
    with pytest.raises(InputError, match="does not fit the CT") as err:
        read_rsna_case(tmp_path, uid)
    assert err.value.path == str(seg)
    swapped = np.ascontiguousarray(raw.transpose(1, 0, 2))  # rows and columns exchanged
    nib.save(nib.Nifti1Image(swapped, np.eye(4)), seg)
    with pytest.raises(InputError, match="does not fit the CT"):
        read_rsna_case(tmp_path, uid)


def test_header_disagreement_is_a_warning_not_an_error(cases, tmp_path):
    write_rsna_dataset(cases[:1], tmp_path)
    uid = study_uid_for("phantom-1")
    seg = tmp_path / "segmentations" / f"{uid}.nii"
    raw = np.asanyarray(nib.load(seg, mmap=False).dataobj)
    nib.save(nib.Nifti1Image(raw, np.eye(4)), seg)  # right layout, meaningless header
    back = read_rsna_case(tmp_path, uid)
    assert np.array_equal(back.labels.array, cases[0].labels.array)
    assert any("header geometry differs" in w for w in back.ct.warnings)


def test_box_on_a_missing_slice(cases, tmp_path):
    write_rsna_dataset(cases[:1], tmp_path)
    boxes = tmp_path / "train_bounding_boxes.csv"
    boxes.write_text(boxes.read_text() + f"{study_uid_for('phantom-1')},1,1,2,2,999\n")
    with pytest.raises(InputError, match="slice_number 999") as err:
        RSNADataset(tmp_path)[0]
    assert err.value.path == str(boxes)


def test_refuses_to_replace_a_folder_that_is_not_a_dataset(cases, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an RSNA dataset"):
        write_rsna_dataset(cases, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
