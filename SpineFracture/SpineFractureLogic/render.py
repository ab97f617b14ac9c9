"""Offscreen pictures of the scene the logic builds: a slice view through ``vtkMRMLSliceLogic``
(CT, heat map and levels blended as Slicer's slice views blend them) and a 3D view of the closed
surfaces in a VTK render window (EGL where there is no display).

Used for the module's export when no Slicer view can be captured (testing mode, no main window),
for the extension's screenshot, and by the tests to look at what the logic made. Inside Slicer the
widget captures the real views with ScreenCapture instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer

from .segments import labels_from_segmentation_node
from .volumes import ct_from_volume_node, remove_volume_node, volume_node_from_ct

logger = logging.getLogger(__name__)

LEVEL_COLOUR_TABLE = "SpineFracture levels"


def level_colour_node(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLColorTableNode:
    """A colour table with entry 0 transparent and 1..7 the level colours (made once per scene)."""
    from SpineFractureLib.constants import LEVELS
    from SpineFractureLib.terminology import LEVEL_COLOURS

    existing = scene.GetFirstNodeByName(LEVEL_COLOUR_TABLE)
    if existing is not None:
        return existing
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(LEVEL_COLOUR_TABLE)
    node.SetTypeToUser()
    node.SetNumberOfColors(len(LEVELS) + 1)
    node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for i, (level, rgb) in enumerate(zip(LEVELS, LEVEL_COLOURS), start=1):
        node.SetColor(i, level, *rgb, 1.0)
    scene.AddNode(node)
    return node


def slice_node_of_view(scene: slicer.vtkMRMLScene, view: str) -> slicer.vtkMRMLSliceNode:
    """The slice node of a view by its layout name ("Red", "Yellow", "Green").

    Raises:
        ValueError: the scene has no such view.
    """
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    for i in range(nodes.GetNumberOfItems()):
        if nodes.GetItemAsObject(i).GetLayoutName() == view:
            return nodes.GetItemAsObject(i)
    raise ValueError(f"the scene has no slice view {view!r}")


def render_slice(
    scene: slicer.vtkMRMLScene,
    view: str,
    background: slicer.vtkMRMLScalarVolumeNode,
    foreground: slicer.vtkMRMLScalarVolumeNode | None = None,
    segmentation: slicer.vtkMRMLSegmentationNode | None = None,
    foreground_opacity: float = 0.5,
    label_opacity: float = 0.35,
    size: int = 384,
) -> np.ndarray:
    """Render one slice view (its slice node's current position) as Slicer blends its layers.

    Args:
        scene: the scene; it must hold the slice node of ``view`` ("Red", "Yellow", "Green").
        background: the CT.
        foreground: the heat map, or None.
        segmentation: drawn as a label layer (filled, ``label_opacity``), or None.
        size: width and height in pixels.

    Returns:
        RGB image, uint8, shape (rows, columns, 3), top row first.
    """
    slice_node = slice_node_of_view(scene, view)
    colours = level_colour_node(scene)
    before = _node_ids(scene)
    label_node = None
    if segmentation is not None:
        labels, _ignored = labels_from_segmentation_node(segmentation, background)
        label_node = volume_node_from_ct(scene, ct_from_volume_node(background).with_array(labels),
                                         "SpineFracture render labels", class_name="vtkMRMLLabelMapVolumeNode")
        label_node.GetDisplayNode().SetAndObserveColorNodeID(colours.GetID())
    logic = slicer.vtkMRMLSliceLogic()
    try:
        logic.SetMRMLScene(scene)
        logic.SetSliceNode(slice_node)
        composite = logic.GetSliceCompositeNode()
        saved = (composite.GetBackgroundVolumeID(), composite.GetForegroundVolumeID(), composite.GetLabelVolumeID(),
                 composite.GetForegroundOpacity(), composite.GetLabelOpacity())
        composite.SetBackgroundVolumeID(background.GetID())
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(foreground_opacity)
        composite.SetLabelVolumeID(label_node.GetID() if label_node is not None else None)
        composite.SetLabelOpacity(label_opacity)
        saved_view = (vtk.vtkMatrix4x4(), slice_node.GetFieldOfView(), slice_node.GetDimensions())
        saved_view[0].DeepCopy(slice_node.GetSliceToRAS())
        centre = [slice_node.GetSliceToRAS().GetElement(r, 3) for r in range(3)]
        slice_node.SetDimensions(size, size, 1)
        logic.FitSliceToBackground()  # the field of view of the CT, then back to where the view looks
        slice_node.JumpSliceByCentering(*centre)
        producer = logic.GetImageDataConnection().GetProducer()
        producer.Update()
        image = producer.GetOutputDataObject(0)
        width, height, _ = image.GetDimensions()
        rgba = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        composite.SetBackgroundVolumeID(saved[0])
        composite.SetForegroundVolumeID(saved[1])
        composite.SetLabelVolumeID(saved[2])
        composite.SetForegroundOpacity(saved[3])
        composite.SetLabelOpacity(saved[4])
        slice_node.GetSliceToRAS().DeepCopy(saved_view[0])
        slice_node.SetFieldOfView(*saved_view[1])
        slice_node.SetDimensions(*saved_view[2])
        slice_node.UpdateMatrices()
    finally:
        logic.SetMRMLScene(None)
        if label_node is not None:
            remove_volume_node(label_node)
        # a slice logic adds its slice model, display and transform nodes: take them out again
        for node_id in _node_ids(scene) - before:
            node = scene.GetNodeByID(node_id)
            if node is not None:
                scene.RemoveNode(node)
    return np.ascontiguousarray(rgba[::-1, :, :3])  # VTK's first row is the bottom one


def _node_ids(scene: slicer.vtkMRMLScene) -> set[str]:
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def render_3d(segmentation: slicer.vtkMRMLSegmentationNode, size: int = 384) -> np.ndarray:
    """Render the segments' closed surfaces from the front (anterior view), offscreen.

    Returns:
        RGB image, uint8, shape (rows, columns, 3), top row first.
    """
    segmentation.CreateClosedSurfaceRepresentation()
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(0.12, 0.12, 0.16)
    seg = segmentation.GetSegmentation()
    for i in range(seg.GetNumberOfSegments()):
        segment = seg.GetNthSegment(i)
        surface = segment.GetRepresentation("Closed surface")
        if surface is None or surface.GetNumberOfPoints() == 0:
            continue
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(surface)
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*segment.GetColor())
        renderer.AddActor(actor)
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(size, size)
    window.AddRenderer(renderer)
    camera = renderer.GetActiveCamera()
    camera.SetFocalPoint(0, 0, 0)
    camera.SetPosition(0, 1, 0)  # RAS: looking from anterior (+A) towards posterior
    camera.SetViewUp(0, 0, 1)
    renderer.ResetCamera()
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    rgb = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, 3)
    window.Finalize()
    return np.ascontiguousarray(rgb[::-1])


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image (rows, columns, 3), top row first, as PNG (atomically)."""
    from SpineFractureLib.io.staging import staged_file

    rgb = np.ascontiguousarray(np.asarray(rgb, np.uint8)[::-1])  # VTK writes bottom row first
    height, width, _ = rgb.shape
    image = vtk.vtkImageData()
    image.SetDimensions(width, height, 1)
    scalars = numpy_support.numpy_to_vtk(rgb.reshape(-1, 3), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
    image.GetPointData().SetScalars(scalars)
    with staged_file(path) as tmp:
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(tmp))
        writer.SetInputData(image)
        writer.Write()
    return Path(path)


def scene_picture(
    scene: slicer.vtkMRMLScene,
    background: slicer.vtkMRMLScalarVolumeNode,
    segmentation: slicer.vtkMRMLSegmentationNode,
    heatmap: slicer.vtkMRMLScalarVolumeNode | None,
    size: int = 384,
) -> np.ndarray:
    """Sagittal and coronal slices (CT, levels, heat map) and the 3D view side by side, as the
    module's default layout shows them. The slice views are where their slice nodes are."""
    pictures = [render_slice(scene, view, background, heatmap, segmentation, size=size) for view in ("Yellow", "Green")]
    pictures.append(render_3d(segmentation, size))
    return np.concatenate(pictures, axis=1)


__all__ = ["LEVEL_COLOUR_TABLE", "level_colour_node", "render_3d", "render_slice", "save_png", "scene_picture",
           "slice_node_of_view"]
