"""VerSe layout: the real subject in ../shared/data, round trips, the centroid JSON, bad inputs."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from SpineFractureLib.data.case import LEVELS, LabelledCase
from SpineFractureLib.data.toy_ct import make_toy_ct
from SpineFractureLib.data.verse import (
    VERSE_LEVELS,
    read_verse_case,
    read_verse_centroids,
    write_verse_case,
)
from SpineFractureLib.errors import InputError

REAL = "verse-sub-verse012"


def make_case(case_id="phantom-7", size_xyz=(40, 36, 24), spacing=(1.2, 1.1, 2.5), direction=None,
              origin=None, seed=7):
    """A toy CT with T1 (8) at the bottom and C7..C1 upwards in off-centre blocks of growing
    width, so that any flip or transpose moves them."""
    ct = make_toy_ct(size_xyz=size_xyz, spacing=spacing, seed=seed)
    ct = ct.with_array(np.rint(ct.array), direction=np.eye(3) if direction is None else direction,
                       origin=ct.origin if origin is None else origin)
    nx, ny, nz = size_xyz
    labels = np.zeros((nz, ny, nx), np.uint8)
    bounds = np.linspace(1, nz - 2, 9).astype(int)
    for n, label in enumerate([8, 7, 6, 5, 4, 3, 2, 1]):
        labels[bounds[n]:bounds[n + 1], 4 + n % 3:ny // 2 + n, 3:nx // 3 + 2 * n] = label
    truth = {"levels": {name: {"present": True} for name in LEVELS}}
    return LabelledCase(case_id, ct, ct.with_array(labels), None, truth)


def lps_centroids(volume):
    """LPS centre of mass (mm) of each nonzero label of a label volume."""
    labels = [int(v) for v in np.unique(volume.array) if v]
    coms = ndimage.center_of_mass(np.ones(volume.array.shape), volume.array, labels)
    return {lab: volume.index_to_lps(np.array(com[::-1])) for lab, com in zip(labels, coms)}


@pytest.fixture
def oblique_case(oblique_direction):
    return make_case("phantom-8", size_xyz=(44, 30, 26), spacing=(0.7, 0.9, 2.0),
                     direction=oblique_direction, origin=(12.5, -40.0, 310.0), seed=8)


def test_reads_the_real_subject(shared_data):
    case = read_verse_case(shared_data / REAL)
    assert case.case_id == "sub-verse012"
    assert set(np.unique(case.labels.array).tolist()) == {0, 17, 18, 19, 20, 21, 22}
    assert case.labels.array.dtype == np.uint8 and case.labels.same_grid(case.ct)
    assert case.ct.array.shape == (252, 194, 35)  # (z, y, x) of a 35×194×252 file
    assert np.allclose(case.ct.spacing, (3.0, 1.0, 1.0), atol=1e-4)
    assert case.fracture is None
    assert case.truth["levels"] == {name: {"present": False} for name in LEVELS}
    assert list(case.truth["centroids_lps_mm"]) == ["T10", "T11", "T12", "L1", "L2", "L3"]
    # the CT file path works as well as the folder
    same = read_verse_case(shared_data / REAL / "sub-verse012_ct.nii.gz")
    assert np.array_equal(same.labels.array, case.labels.array)


def test_real_centroids_lie_in_their_vertebrae(shared_data):
    case = read_verse_case(shared_data / REAL)
    centroids = read_verse_centroids(shared_data / REAL / "sub-verse012_seg-subreg_ctd.json", case.ct)
    assert sorted(centroids) == [17, 18, 19, 20, 21, 22]
    entries = json.loads((shared_data / REAL / "sub-verse012_seg-subreg_ctd.json").read_text())
    assert entries[0] == {"direction": ["L", "P", "S"]}  # LPS axis codes = identity ITK direction
    mask_centres = lps_centroids(case.labels)
    for label, lps in centroids.items():
        i, j, k = np.rint(case.ct.lps_to_index(lps)).astype(int)
        assert case.labels.array[k, j, i] == label  # inside its own vertebra
        # VerSe's centroids come from the body subregion: anterior of the whole mask's centre
        offset = lps - mask_centres[label]
        assert np.linalg.norm(offset) < 20.0 and offset[1] < -5.0
    # voxel coordinates of the JSON are the file's (i, j, k)
    e = entries[1]
    assert np.allclose(centroids[e["label"]], case.ct.index_to_lps(np.array([e["X"], e["Y"], e["Z"]])))


def test_writer_copies_the_real_headers(shared_data, tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-verse900")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["sub-verse900_ct.nii.gz", "sub-verse900_seg-subreg_ctd.json",
                     "sub-verse900_seg-vert_msk.nii.gz"]
    for ours, real in (("ct.nii.gz", "ct.nii.gz"), ("seg-vert_msk.nii.gz", "seg-vert_msk.nii.gz")):
        h = nib.load(folder / f"sub-verse900_{ours}").header
        r = nib.load(shared_data / REAL / f"sub-verse012_{real}").header
        for key in ("datatype", "qform_code", "sform_code", "xyzt_units"):
            assert int(h[key]) == int(r[key]), (ours, key)


@pytest.mark.parametrize("which", ["plain", "oblique"])
def test_round_trip(which, oblique_case, tmp_path):
    case = make_case() if which == "plain" else oblique_case
    write_verse_case(case, tmp_path, "sub-x")
    back = read_verse_case(tmp_path / "sub-x")
    assert back.case_id == "sub-x"
    assert np.array_equal(back.ct.array, case.ct.array)
    assert np.array_equal(back.labels.array, case.labels.array)
    assert np.allclose(back.ct.spacing, case.ct.spacing, atol=1e-5)
    assert np.allclose(back.ct.origin, case.ct.origin, atol=1e-3)
    assert np.allclose(back.ct.direction, case.ct.direction, atol=1e-5)
    assert back.truth["levels"] == case.truth["levels"]
    expected = lps_centroids(case.labels)
    got = back.truth["centroids_lps_mm"]
    assert list(got) == [VERSE_LEVELS[lab] for lab in sorted(expected)]
    for label, lps in expected.items():  # JSON keeps 0.1 voxel
        assert np.allclose(got[VERSE_LEVELS[label]], lps, atol=0.06 * max(case.ct.spacing) + 1e-3)


def test_centroid_json_format(tmp_path):
    case = make_case()
    folder = write_verse_case(case, tmp_path, "sub-x")
    entries = json.loads((folder / "sub-x_seg-subreg_ctd.json").read_text())
    mask = nib.load(folder / "sub-x_seg-vert_msk.nii.gz")
    assert entries[0] == {"direction": list(nib.aff2axcodes(mask.affine))}
    assert entries[0] == {"direction": ["L", "P", "S"]}
    assert [e["label"] for e in entries[1:]] == [1, 2, 3, 4, 5, 6, 7, 8]
    data = np.asanyarray(mask.dataobj)
    for e in entries[1:]:
        assert set(e) == {"label", "X", "Y", "Z"}
        com = ndimage.center_of_mass(data == e["label"])  # nibabel axes: X, Y, Z
        assert [e["X"], e["Y"], e["Z"]] == [round(float(c), 1) for c in com]


def test_reoriented_subject_keeps_its_anatomy(oblique_case, tmp_path):
    write_verse_case(oblique_case, tmp_path, "sub-pir", axcodes=("P", "I", "R"))
    entries = json.loads((tmp_path / "sub-pir" / "sub-pir_seg-subreg_ctd.json").read_text())
    assert entries[0] == {"direction": ["P", "I", "R"]}
    back = read_verse_case(tmp_path / "sub-pir")
    assert sorted(back.ct.shape_xyz) == sorted(oblique_case.ct.shape_xyz)
    for label, lps in lps_centroids(oblique_case.labels).items():
        assert np.allclose(lps_centroids(back.labels)[label], lps, atol=1e-3)
        assert np.allclose(back.truth["centroids_lps_mm"][VERSE_LEVELS[label]], lps, atol=0.15)
        assert (back.labels.array == label).sum() == (oblique_case.labels.array == label).sum()


def test_centroids_given_by_the_caller(oblique_case, tmp_path):
    body = {3: np.array([10.0, -30.0, 330.0]), 5: np.array([11.0, -29.0, 320.0])}
    write_verse_case(oblique_case, tmp_path, "sub-x", centroids_lps=body)
    back = read_verse_case(tmp_path / "sub-x")
    assert back.truth["centroids_lps_mm"].keys() == {"C3", "C5"}
    for label, lps in body.items():
        assert np.allclose(back.truth["centroids_lps_mm"][VERSE_LEVELS[label]], lps, atol=0.15)


def test_json_in_another_orientation_is_converted(tmp_path):
    case = make_case()
    folder = write_verse_case(case, tmp_path, "sub-x")
    json_path = folder / "sub-x_seg-subreg_ctd.json"
    entries = json.loads(json_path.read_text())
    nx, ny, nz = case.ct.shape_xyz
    # the same points in R, A, S axes: i and j reversed
    flipped = [{"direction": ["R", "A", "S"]}] + [
        {"label": e["label"], "X": nx - 1 - e["X"], "Y": ny - 1 - e["Y"], "Z": e["Z"]}
        for e in entries[1:]]
    json_path.write_text(json.dumps(flipped))
    expected = lps_centroids(case.labels)
    for label, lps in read_verse_centroids(json_path, case.ct).items():
        assert np.allclose(lps, expected[label], atol=0.1)


def test_older_verse19_names_and_rawdata_derivatives(tmp_path):
    case = make_case()
    folder = write_verse_case(case, tmp_path, "sub-x")
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(folder / "sub-x_ct.nii.gz", old / "verse900.nii.gz")
    shutil.copy(folder / "sub-x_seg-vert_msk.nii.gz", old / "verse900_seg.nii.gz")
    shutil.copy(folder / "sub-x_seg-subreg_ctd.json", old / "verse900_ctd.json")
    back = read_verse_case(old)
    assert back.case_id == "verse900" and np.array_equal(back.labels.array, case.labels.array)
    assert "centroids_lps_mm" in back.truth

    raw, deriv = tmp_path / "rawdata" / "sub-x", tmp_path / "derivatives" / "sub-x"
    deriv.mkdir(parents=True)
    shutil.copytree(folder, raw)
    for name in ("sub-x_seg-vert_msk.nii.gz", "sub-x_seg-subreg_ctd.json"):
        (raw / name).rename(deriv / name)
    back = read_verse_case(raw)
    assert np.array_equal(back.labels.array, case.labels.array) and "centroids_lps_mm" in back.truth


def test_missing_mask(tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-x")
    (folder / "sub-x_seg-vert_msk.nii.gz").unlink()
    with pytest.raises(InputError, match="vertebra mask missing") as err:
        read_verse_case(folder)
    assert err.value.path == str(folder / "sub-x_seg-vert_msk.nii.gz")


def test_missing_ct(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="VerSe CT") as err:
        read_verse_case(tmp_path / "empty")
    assert err.value.path == str(tmp_path / "empty")


def test_mask_on_another_grid(tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-x")
    mask_path = folder / "sub-x_seg-vert_msk.nii.gz"
    mask = nib.load(mask_path)
    shifted = mask.affine.copy()
    shifted[:3, 3] += [0.0, 0.0, 2.5]  # one slice higher
    nib.save(nib.Nifti1Image(np.asanyarray(mask.dataobj), shifted), mask_path)
    with pytest.raises(InputError, match="differs from the CT") as err:
        read_verse_case(folder)
    assert err.value.path == str(mask_path)
    nib.save(nib.Nifti1Image(np.asanyarray(mask.dataobj)[:, :, 1:], mask.affine), mask_path)
    with pytest.raises(InputError, match="differs from the CT"):
        read_verse_case(folder)


def test_mask_with_values_that_are_not_labels(tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-x")
    mask_path = folder / "sub-x_seg-vert_msk.nii.gz"
    mask = nib.load(mask_path)
    data = np.asanyarray(mask.dataobj).copy()
    data[0, 0, 0] = 99
    nib.save(nib.Nifti1Image(data, mask.affine), mask_path)
    with pytest.raises(InputError, match="not VerSe labels") as err:
        read_verse_case(folder)
    assert err.value.path == str(mask_path)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a readable JSON"),
    ('{"label": 1}', "JSON list"),
    ('[{"direction": ["L", "P"]}]', "three axis codes"),
    ('[{"direction": ["L", "P", "S"]}, {"label": 3, "X": 1.0}]', "entry 1"),
    ('[{"direction": ["L", "P", "S"]}, {"label": 40, "X": 1, "Y": 1, "Z": 1}]', "label 40"),
])
def test_malformed_centroid_json(text, message, tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-x")
    json_path = folder / "sub-x_seg-subreg_ctd.json"
    json_path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_verse_case(folder)
    assert err.value.path == str(json_path)


def test_nan_centroids_are_skipped(tmp_path):
    folder = write_verse_case(make_case(), tmp_path, "sub-x")
    json_path = folder / "sub-x_seg-subreg_ctd.json"
    entries = json.loads(json_path.read_text())
    entries[1]["X"] = float("nan")
    json_path.write_text(json.dumps(entries))
    assert "C1" not in read_verse_case(folder).truth["centroids_lps_mm"]
