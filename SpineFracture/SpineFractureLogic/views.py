"""What the slice views show: the Grad-CAM heat map as a coloured foreground over the CT, and
jumping the views to a level.

Everything here sets MRML nodes (slice composite nodes, slice nodes, display nodes); the views that
render them follow by themselves inside Slicer and through ``vtkMRMLSliceLogic`` offscreen.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

import slicer

from .volumes import lps_to_ras, update_volume_node, volume_node_from_ct

if TYPE_CHECKING:
    from SpineFractureLib.export.findings import Findings
    from SpineFractureLib.volume import CTVolume

logger = logging.getLogger(__name__)

HEAT_COLOUR_NAME = "SpineFracture heat (inferno)"
#: Heat below this (0..1) is not drawn, so the CT stays visible outside what the classifier looked at.
HEAT_SHOWN_FROM = 0.25
DEFAULT_HEAT_OPACITY = 0.5


def heat_colour_node(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLColorTableNode:
    """The module's heat colour table (256 entries of matplotlib's inferno), made once per scene.

    Slicer ships an inferno table too (``vtkMRMLColorTableNodeFileInferno.txt``), but only the
    application's colour logic creates it; a scene of our own (tests, batch) lacks it, so the module
    builds the same ramp itself and both paths look alike.
    """
    existing = scene.GetFirstNodeByName(HEAT_COLOUR_NAME)
    if existing is not None:
        return existing
    from matplotlib import colormaps

    ramp = colormaps["inferno"](np.linspace(0.0, 1.0, 256))
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(HEAT_COLOUR_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(256)
    for i, (r, g, b, _a) in enumerate(ramp):
        node.SetColor(i, f"{i / 255:.3f}", float(r), float(g), float(b), 1.0)
    scene.AddNode(node)
    return node


def heatmap_node(
    scene: slicer.vtkMRMLScene,
    grid: CTVolume,
    heat: np.ndarray,
    name: str = "Grad-CAM",
    node: slicer.vtkMRMLScalarVolumeNode | None = None,
) -> slicer.vtkMRMLScalarVolumeNode:
    """Put a heat map (0..1) into a scalar volume node shown with the heat colours.

    Args:
        scene: the scene.
        grid: the CT whose grid the heat map is on (LPS geometry).
        heat: float heat map, axis order (z, y, x), values 0..1.
        name: name of a new node.
        node: an existing heat-map node to update in place (reclassify), or None for a new one.

    Returns:
        The node: window 0..1, heat below :data:`HEAT_SHOWN_FROM` transparent.
    """
    volume = grid.with_array(np.clip(np.asarray(heat, np.float32), 0.0, 1.0))
    if node is None:
        node = volume_node_from_ct(scene, volume, name)
    else:
        update_volume_node(node, volume)
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(heat_colour_node(scene).GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.SetApplyThreshold(1)
    display.SetThreshold(HEAT_SHOWN_FROM, 1.0)
    return node


def show_in_slice_views(
    scene: slicer.vtkMRMLScene,
    background: slicer.vtkMRMLScalarVolumeNode,
    foreground: slicer.vtkMRMLScalarVolumeNode | None = None,
    opacity: float = DEFAULT_HEAT_OPACITY,
) -> int:
    """Show the CT as background and the heat map as foreground in every slice view.

    Returns:
        The number of slice views (slice composite nodes) changed.
    """
    composites = _nodes(scene, "vtkMRMLSliceCompositeNode")
    for composite in composites:
        composite.SetBackgroundVolumeID(background.GetID())
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(float(opacity))
    return len(composites)


def set_heat_opacity(scene: slicer.vtkMRMLScene, opacity: float) -> None:
    """Set the foreground (heat map) opacity, 0..1, of every slice view."""
    for composite in _nodes(scene, "vtkMRMLSliceCompositeNode"):
        composite.SetForegroundOpacity(float(np.clip(opacity, 0.0, 1.0)))


def level_focus_ras(findings: Findings, level: str) -> tuple[float, float, float] | None:
    """Where to look at a level, RAS mm: its peak (``peak_lps_mm``) if it has one, else its centroid.

    Returns:
        None when the level is absent.
    """
    v = findings.level(level)
    if not v.present:
        return None
    point = v.peak_lps_mm or v.centroid_lps_mm
    return None if point is None else lps_to_ras(point)


def jump_slice_views(scene: slicer.vtkMRMLScene, ras: tuple[float, float, float]) -> int:
    """Centre every slice view on a RAS point (mm).

    Returns:
        The number of slice views moved.
    """
    slices = _nodes(scene, "vtkMRMLSliceNode")
    for slice_node in slices:
        slice_node.JumpSliceByCentering(*ras)
    return len(slices)


def _nodes(scene: slicer.vtkMRMLScene, class_name: str) -> list:
    collection = scene.GetNodesByClass(class_name)
    return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]


__all__ = ["DEFAULT_HEAT_OPACITY", "HEAT_COLOUR_NAME", "HEAT_SHOWN_FROM", "heat_colour_node", "heatmap_node",
           "jump_slice_views", "level_focus_ras", "set_heat_opacity", "show_in_slice_views"]
