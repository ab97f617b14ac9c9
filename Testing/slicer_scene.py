"""Helpers for the tests of the Slicer module's logic: the module folder on ``sys.path`` and a MRML
scene with the three slice views of Slicer's default layout (slicer-core, no application)."""

from __future__ import annotations

import sys
from pathlib import Path

import slicer  # slicer-core: a required test dependency (MRML classes without the application)

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "SpineFracture"
for _path in (REPO, MODULE_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

VIEWS = ("Red", "Yellow", "Green")
ORIENTATIONS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}


def scene_with_views() -> slicer.vtkMRMLScene:
    """A scene holding the built-in colour tables and a slice node and a slice composite node per
    view, as Slicer's default scene has."""
    scene = slicer.vtkMRMLScene()
    colours = slicer.vtkSlicerColorLogic()  # the built-in tables (Grey, Labels) volume displays use
    colours.SetMRMLScene(scene)
    colours.SetMRMLScene(None)
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    for name in VIEWS:
        slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode", name)
        slice_node.SetLayoutName(name)
        slice_node.SetDefaultOrientation(ORIENTATIONS[name])
        slice_node.SetOrientation(ORIENTATIONS[name])
        composite = slicer.vtkMRMLSliceCompositeNode()
        composite.SetLayoutName(name)
        scene.AddNode(composite)
    return scene


def node_count(scene: slicer.vtkMRMLScene) -> int:
    return scene.GetNumberOfNodes()
