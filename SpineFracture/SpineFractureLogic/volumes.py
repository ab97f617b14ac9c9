"""Volumes between SpineFractureLib (CTVolume: numpy array, LPS geometry) and MRML volume nodes.

The only place geometry crosses the LPS/RAS boundary: node matrices come from
``CTVolume.ijk_to_ras()`` and go back through ``LPS_TO_RAS`` (both in ``SpineFractureLib.volume``),
and :func:`lps_to_ras` converts single points.

Axis conventions: numpy volume arrays are (z, y, x) = (k, j, i) as SimpleITK returns them; a
vtkImageData is stored with i varying fastest, so a C-order (z, y, x) array is exactly its scalar
buffer for dimensions (x, y, z).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer

if TYPE_CHECKING:  # imported for type hints only; see the module docstring
    from SpineFractureLib.volume import CTVolume

logger = logging.getLogger(__name__)

def _matrix_to_vtk(matrix: np.ndarray) -> vtk.vtkMatrix4x4:
    """Convert a 4x4 numpy array to a vtkMatrix4x4."""
    vtk_matrix = vtk.vtkMatrix4x4()
    vtk_matrix.DeepCopy([float(v) for v in np.asarray(matrix, dtype=float).reshape(16)])
    return vtk_matrix


def _matrix_from_vtk(vtk_matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """Convert a vtkMatrix4x4 to a 4x4 numpy array."""
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _vtk_compatible(array: np.ndarray) -> np.ndarray:
    """Return a C-contiguous array of a dtype that VTK stores and Slicer displays well.

    Args:
        array: voxel array, axis order (z, y, x).

    Returns:
        The same values as a C-contiguous array; bool becomes uint8 and 64-bit integers become
        int32 (Slicer does not render "long long" volumes).

    Raises:
        ValueError: a 64-bit integer array has values outside the int32 range.
    """
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype in (np.int64, np.uint64):
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError("64-bit integer volume has values outside the int32 range")
        array = array.astype(np.int32)
    return np.ascontiguousarray(array)


def _image_data(array: np.ndarray) -> vtk.vtkImageData:
    """A vtkImageData holding a deep copy of a (z, y, x) array."""
    array = _vtk_compatible(np.asarray(array))
    size_z, size_y, size_x = array.shape
    image = vtk.vtkImageData()
    image.SetDimensions(size_x, size_y, size_z)
    scalars = numpy_support.numpy_to_vtk(
        array.reshape(-1), deep=True, array_type=numpy_support.get_vtk_array_type(array.dtype)
    )
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    return image


def volume_node_from_ct(
    scene: slicer.vtkMRMLScene, ct: CTVolume, name: str = "CT", class_name: str = "vtkMRMLScalarVolumeNode",
) -> slicer.vtkMRMLScalarVolumeNode:
    """Add a volume node holding a CT volume (or any array on a CT's grid) to a MRML scene.

    Args:
        scene: the MRML scene to add the node to (``slicer.mrmlScene`` inside Slicer).
        ct: the volume; ``ct.array`` is (z, y, x) and its geometry is LPS.
        name: base name of the new node (the scene may make it unique).
        class_name: ``vtkMRMLScalarVolumeNode`` or ``vtkMRMLLabelMapVolumeNode``.

    Returns:
        The new node, with a deep copy of the voxels, the IJK-to-RAS matrix ``ct.ijk_to_ras()``
        and default display nodes.
    """
    image = _image_data(ct.array)
    node = scene.AddNewNodeByClass(class_name, name)
    node.SetIJKToRASMatrix(_matrix_to_vtk(ct.ijk_to_ras()))
    node.SetAndObserveImageData(image)
    node.CreateDefaultDisplayNodes()
    logger.debug("added volume node %s of size %s", node.GetID(), image.GetDimensions())
    return node


def remove_volume_node(node: slicer.vtkMRMLVolumeNode) -> None:
    """Remove a (temporary) volume node and its display and storage nodes from its scene."""
    scene = node.GetScene()
    if scene is None:
        return
    helpers = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    helpers += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and helper.GetScene() is scene:
            scene.RemoveNode(helper)


def update_volume_node(node: slicer.vtkMRMLScalarVolumeNode, ct: CTVolume) -> None:
    """Replace a volume node's voxels and geometry by ``ct``'s (array (z, y, x), LPS geometry)."""
    node.SetIJKToRASMatrix(_matrix_to_vtk(ct.ijk_to_ras()))
    node.SetAndObserveImageData(_image_data(ct.array))


def lps_to_ras(point_lps: Sequence[float]) -> tuple[float, float, float]:
    """A world point (mm) from the library's LPS to Slicer's RAS."""
    from SpineFractureLib.volume import LPS_TO_RAS

    ras = LPS_TO_RAS @ np.array([*map(float, point_lps), 1.0])
    return float(ras[0]), float(ras[1]), float(ras[2])


def ct_from_volume_node(node: slicer.vtkMRMLScalarVolumeNode) -> CTVolume:
    """Read a scalar volume node back into a CTVolume (the inverse of :func:`volume_node_from_ct`).

    Args:
        node: a scalar volume node with single-component image data.

    Returns:
        A CTVolume whose array is a float32 copy of the voxels, axis order (z, y, x), and whose
        spacing, origin and direction are the node's IJK-to-RAS geometry converted to LPS. A parent
        transform of the node is not applied; a warning in ``warnings`` says so.

    Raises:
        ValueError: the node is missing, has no image data, or has more than one component.
    """
    from SpineFractureLib.volume import LPS_TO_RAS, CTVolume

    if node is None:
        raise ValueError("no volume node given")
    image = node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise ValueError(f"volume node '{node.GetName()}' has no image data")
    if image.GetNumberOfScalarComponents() != 1:
        raise ValueError(
            f"volume node '{node.GetName()}' has {image.GetNumberOfScalarComponents()} components;"
            " a scalar CT volume is needed"
        )

    size_x, size_y, size_z = image.GetDimensions()
    voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    array = np.array(voxels, dtype=np.float32).reshape(size_z, size_y, size_x)

    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    ijk_to_lps = LPS_TO_RAS @ _matrix_from_vtk(ijk_to_ras)
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    direction = ijk_to_lps[:3, :3] / spacing

    warnings: list[str] = []
    if node.GetParentTransformNode() is not None:
        warnings.append(
            f"volume node '{node.GetName()}' is under transform"
            f" '{node.GetParentTransformNode().GetName()}', which was not applied"
        )
    storage = node.GetStorageNode()
    source = (storage.GetFileName() or "") if storage is not None else ""
    return CTVolume(
        array=array,
        spacing=tuple(float(s) for s in spacing),
        origin=tuple(float(v) for v in ijk_to_lps[:3, 3]),
        direction=direction,
        source=source,
        warnings=warnings,
    )


def describe_volume_node(node: slicer.vtkMRMLScalarVolumeNode) -> str:
    """Human-readable summary of a CT volume node: size, spacing, orientation, HU range.

    Args:
        node: a scalar volume node (see :func:`ct_from_volume_node`).

    Returns:
        The node name, then the lines that ``spinefracture info`` prints for the same volume
        (``SpineFractureLib.describe.describe_ct`` formatted by ``format_description``).
    """
    from SpineFractureLib.describe import describe_ct, format_description

    info = describe_ct(ct_from_volume_node(node))
    return f"volume       {node.GetName()}\n{format_description(info)}"
