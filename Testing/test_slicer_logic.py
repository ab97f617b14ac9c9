"""The Slicer module's volume conversions (SpineFractureLogic.volumes) on a real vtkMRMLScene
(slicer-core wheel, no Slicer application)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import slicer  # slicer-core: a required test dependency (MRML classes without the application)
import vtk

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "SpineFracture"
for _path in (REPO, MODULE_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import SpineFractureLogic as logic  # noqa: E402  (needs MODULE_DIR on sys.path)
from SpineFractureLib.volume import CTVolume  # noqa: E402

SIZE_XYZ = (7, 6, 5)  # three different sizes, so that any axis mix-up shows


@pytest.fixture
def scene() -> slicer.vtkMRMLScene:
    return slicer.vtkMRMLScene()


@pytest.fixture
def oblique_ct(oblique_direction) -> CTVolume:
    """Oblique direction, anisotropic spacing, non-zero origin; distinct voxel values."""
    rng = np.random.default_rng(7)
    array = rng.uniform(-1000.0, 2000.0, size=SIZE_XYZ[::-1]).astype(np.float32)
    return CTVolume(array, spacing=(0.6, 0.8, 2.5), origin=(-12.5, 40.0, 103.0),
                    direction=oblique_direction, modality="CT")


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


# --------------------------------------------------------------------------- CTVolume <-> MRML


def test_round_trip_keeps_voxels_and_geometry(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct, name="RoundTrip")
    assert node.IsA("vtkMRMLScalarVolumeNode")
    assert scene.GetNodeByID(node.GetID()) is node
    assert node.GetImageData().GetDimensions() == SIZE_XYZ

    back = logic.ct_from_volume_node(node)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, oblique_ct.array)
    np.testing.assert_allclose(back.spacing, oblique_ct.spacing, atol=1e-9)
    np.testing.assert_allclose(back.origin, oblique_ct.origin, atol=1e-9)
    np.testing.assert_allclose(back.direction, oblique_ct.direction, atol=1e-9)
    assert back.warnings == []


def test_node_geometry_is_ras(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    np.testing.assert_allclose(_ijk_to_ras(node), oblique_ct.ijk_to_ras(), atol=1e-9)
    np.testing.assert_allclose(node.GetSpacing(), oblique_ct.spacing, atol=1e-9)


@pytest.mark.parametrize("ijk", [(0, 0, 0), (6, 0, 0), (0, 5, 0), (0, 0, 4), (3, 2, 4), (6, 5, 4)])
def test_slicer_ras_of_voxel_is_lps_with_x_y_negated(scene, oblique_ct, ijk):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    ras = _ijk_to_ras(node) @ [*ijk, 1]
    lps = oblique_ct.ijk_to_lps() @ [*ijk, 1]
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-9)


def test_vtk_voxel_i_j_k_is_array_k_j_i(scene, oblique_ct):
    image = logic.volume_node_from_ct(scene, oblique_ct).GetImageData()
    for i, j, k in [(1, 2, 3), (6, 0, 4), (0, 5, 1)]:
        assert image.GetScalarComponentAsDouble(i, j, k, 0) == pytest.approx(
            float(oblique_ct.array[k, j, i])
        )


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float64, np.bool_, np.int64])
def test_other_voxel_types_round_trip_as_float32(scene, dtype):
    array = (np.arange(np.prod(SIZE_XYZ)).reshape(SIZE_XYZ[::-1]) % 7).astype(dtype)
    ct = CTVolume(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    back = logic.ct_from_volume_node(logic.volume_node_from_ct(scene, ct))
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, array.astype(np.float32))


def test_int64_out_of_int32_range_is_rejected(scene):
    ct = CTVolume(np.full((2, 2, 2), 2**40, dtype=np.int64), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="int32"):
        logic.volume_node_from_ct(scene, ct)


def test_missing_node_or_image_is_a_value_error(scene):
    with pytest.raises(ValueError):
        logic.ct_from_volume_node(None)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
    with pytest.raises(ValueError, match="no image data"):
        logic.ct_from_volume_node(empty)


def test_parent_transform_is_reported(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Shift")
    node.SetAndObserveTransformNodeID(transform.GetID())
    back = logic.ct_from_volume_node(node)
    assert any("Shift" in w for w in back.warnings)


def test_describe_names_size_and_orientation(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct, name="Neck")
    text = logic.describe_volume_node(node)
    assert re.search(r"7\D+6\D+5 voxels", text), text
    assert "Neck" in text
    assert "HU range" in text


def test_logic_class_uses_its_scene(scene, oblique_ct):
    spine_logic = logic.SpineFractureLogic(scene=scene)
    node = spine_logic.volumeNodeFromCT(oblique_ct, "ViaClass")
    assert scene.GetNodeByID(node.GetID()) is node
    np.testing.assert_array_equal(spine_logic.ctFromVolumeNode(node).array, oblique_ct.array)
    assert re.search(r"7\D+6\D+5 voxels", spine_logic.describeVolumeNode(node))


def test_logic_class_refuses_a_positional_argument():
    # Slicer passes one positional argument when it mistakes a helper file for a module.
    with pytest.raises(TypeError):
        logic.SpineFractureLogic(object())  # type: ignore[misc]
