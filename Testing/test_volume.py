"""CTVolume geometry: index <-> LPS <-> RAS and the SimpleITK round trip."""

import numpy as np
import pytest
import SimpleITK as sitk

from SpineFractureLib.volume import LPS_TO_RAS, CTVolume


def make(direction, shape=(5, 6, 7), spacing=(0.7, 0.8, 2.5), origin=(10.0, -20.0, 30.0)):
    arr = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return CTVolume(arr, spacing, origin, direction)


def test_ijk_to_lps_matches_simpleitk(oblique_direction):
    vol = make(oblique_direction)
    image = vol.to_sitk()
    for ijk in [(0, 0, 0), (6, 0, 0), (0, 5, 0), (3, 2, 4), (6, 5, 4)]:
        expected = image.TransformIndexToPhysicalPoint(ijk)
        assert np.allclose(vol.index_to_lps(np.array(ijk)), expected, atol=1e-9)
        assert np.allclose(vol.ijk_to_lps() @ [*ijk, 1], [*expected, 1])


def test_array_axis_order_is_zyx():
    vol = make(np.eye(3), shape=(5, 6, 7))
    assert vol.shape_xyz == (7, 6, 5)
    assert vol.to_sitk().GetSize() == (7, 6, 5)
    # voxel (i=1, j=2, k=3) is array[3, 2, 1]
    assert vol.to_sitk().GetPixel(1, 2, 3) == vol.array[3, 2, 1]


def test_lps_to_index_inverts(oblique_direction):
    vol = make(oblique_direction)
    ijk = np.random.default_rng(0).uniform(0, 5, size=(10, 3))
    assert np.allclose(vol.lps_to_index(vol.index_to_lps(ijk)), ijk)


def test_ras_negates_x_and_y(oblique_direction):
    vol = make(oblique_direction)
    lps = vol.ijk_to_lps() @ [2, 3, 4, 1]
    ras = vol.ijk_to_ras() @ [2, 3, 4, 1]
    assert np.allclose(ras[:3], [-lps[0], -lps[1], lps[2]])
    assert np.allclose(LPS_TO_RAS @ LPS_TO_RAS, np.eye(4))


def test_sitk_round_trip_keeps_everything(oblique_direction):
    vol = make(oblique_direction)
    back = CTVolume.from_sitk(vol.to_sitk())
    assert np.array_equal(back.array, vol.array)
    assert np.allclose(back.spacing, vol.spacing)
    assert np.allclose(back.origin, vol.origin)
    assert np.allclose(back.direction, vol.direction)
    assert back.same_grid(vol)


def test_same_grid_detects_shift():
    a = make(np.eye(3))
    b = make(np.eye(3), origin=(10.0, -20.0, 31.0))
    assert not a.same_grid(b)


def test_with_array_keeps_geometry_and_checks_shape():
    vol = make(np.eye(3))
    lab = vol.with_array(np.zeros(vol.array.shape, np.uint8))
    assert lab.same_grid(vol) and lab.array.dtype == np.uint8
    with pytest.raises(ValueError):
        vol.with_array(np.zeros((2, 2, 2)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"array": np.zeros((4, 4))}, "3D"),
        ({"spacing": (1.0, 0.0, 1.0)}, "positive"),
        ({"spacing": (1.0, 1.0)}, "3 values"),
        ({"direction": np.zeros((3, 3))}, "singular"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"array": np.zeros((2, 3, 4)), "spacing": (1, 1, 1), "origin": (0, 0, 0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CTVolume(**args)


def test_from_sitk_refuses_2d():
    with pytest.raises(ValueError):
        CTVolume.from_sitk(sitk.Image(4, 4, sitk.sitkFloat32))


def test_sub_volume_keeps_every_voxel_where_it_was(oblique_direction):
    from SpineFractureLib.volume import box_around_labels

    rng = np.random.default_rng(4)
    ct = CTVolume(rng.normal(size=(9, 10, 11)).astype(np.float32), (0.5, 0.7, 2.0), (3.0, -4.0, 10.0),
                  oblique_direction)
    sub = ct.sub_volume((2, 3, 4), (7, 9, 11))
    assert sub.array.shape == (5, 6, 7)
    np.testing.assert_array_equal(sub.array, ct.array[2:7, 3:9, 4:11])
    np.testing.assert_allclose(sub.index_to_lps([1, 2, 3]), ct.index_to_lps([5, 5, 5]), atol=1e-9)
    labels = np.zeros((9, 10, 11), np.uint8)
    labels[4:6, 2, 7] = 3
    assert box_around_labels(labels, (0.5, 0.7, 2.0), 0.0) == ((4, 2, 7), (6, 3, 8))
    assert box_around_labels(labels, (0.5, 0.7, 2.0), 1.0) == ((3, 0, 5), (7, 5, 10))  # 1, 2, 2 voxels, clipped
    assert box_around_labels(np.zeros_like(labels), (1.0, 1.0, 1.0), 5.0) is None
