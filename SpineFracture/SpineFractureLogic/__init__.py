"""MRML logic of the SpineFracture module: library objects and CLI outputs <-> MRML nodes.

The boundary between SpineFractureLib (numpy arrays, LPS geometry, files) and Slicer's MRML scene
(vtkImageData, RAS geometry). It imports only the standard library, numpy, vtk, Slicer's MRML
classes and SpineFractureLib; no qt, ctk or ``slicer.util`` GUI helpers. So it runs unchanged inside
Slicer and under plain pytest with the ``slicer-core`` wheel, where ``import slicer`` gives the MRML
classes (``slicer.vtkMRMLScene``, ``slicer.vtkMRMLSegmentationNode``, ...) without an application.

A package rather than the single ``SpineFractureLogic.py`` that DESIGN §2 names: the workflow
(results, review, reclassify, export, the child process) is too much for one file. The import name
is the same. Slicer loads every top-level ``.py`` file of a module folder as a module, so a package
folder beside ``SpineFracture.py`` is also what an installed extension needs.

SpineFractureLib is imported inside the functions rather than at the top: Slicer imports this
package when it discovers the module at startup, and the library's Python dependencies may not be
installed yet then (they are installed on first use, after the user confirms).

Modules: :mod:`.volumes` (CTVolume <-> volume nodes; the one LPS/RAS crossing), :mod:`.segments`
(label maps <-> segmentation nodes), :mod:`.findings_table` (findings <-> table node, threshold,
review), :mod:`.views` (heat map overlay, jumping to a level), :mod:`.cli_process` (the CLI child
process), :mod:`.analysis` (run and load an analysis or a reclassification), :mod:`.review_export`
(export, training case), :mod:`.dependencies`, :mod:`.sample`.
"""

from __future__ import annotations

import logging

import slicer

from .analysis import (ResultNodes, edited_since_classified, load_results, result_nodes, start_analysis,
                       start_reclassify, write_input)
from .cli_process import CANCELLED, CliRun, cli_command, cli_environment, parse_progress
from .findings_table import findings_table_node, level_at_row, set_review, set_threshold, table_findings
from .review_export import export_review, export_training_case
from .sample import load_sample
from .segments import labels_from_segmentation_node, segmentation_node_from_labels
from .views import heatmap_node, jump_slice_views, level_focus_ras, set_heat_opacity, show_in_slice_views
from .volumes import ct_from_volume_node, describe_volume_node, lps_to_ras, volume_node_from_ct

logger = logging.getLogger(__name__)


class SpineFractureLogic:
    """MRML logic of the SpineFracture module for one scene; no GUI state, no computation.

    The methods wrap this package's functions, so a script can use
    ``slicer.util.getModuleLogic("SpineFracture")`` the usual way.

    Args:
        scene: the MRML scene new nodes are added to; ``slicer.mrmlScene`` inside Slicer.
    """

    CANCELLED = CANCELLED

    def __init__(self, *, scene: slicer.vtkMRMLScene | None = None) -> None:
        # Keyword-only on purpose: Slicer instantiates any class named like its file with one
        # positional argument when it mistakes a helper file for a module; this then fails loudly.
        self.scene = scene

    def _scene(self) -> slicer.vtkMRMLScene:
        if self.scene is None:
            raise ValueError("SpineFractureLogic has no scene")
        return self.scene

    def volumeNodeFromCT(self, ct, name: str = "CT") -> slicer.vtkMRMLScalarVolumeNode:
        """Add ``ct`` to the logic's scene; see :func:`.volumes.volume_node_from_ct`."""
        return volume_node_from_ct(self._scene(), ct, name)

    def ctFromVolumeNode(self, node: slicer.vtkMRMLScalarVolumeNode):
        """Read a volume node; see :func:`.volumes.ct_from_volume_node`."""
        return ct_from_volume_node(node)

    def describeVolumeNode(self, node: slicer.vtkMRMLScalarVolumeNode) -> str:
        """Describe a volume node; see :func:`.volumes.describe_volume_node`."""
        return describe_volume_node(node)

    def loadSample(self) -> slicer.vtkMRMLScalarVolumeNode:
        """Add the demo phantom; see :func:`.sample.load_sample`."""
        return load_sample(self._scene())[0]

    def startAnalysis(self, ctNode, workDir: str, python: str, **options) -> CliRun:
        """Start ``analyze`` on a CT node; see :func:`.analysis.start_analysis`."""
        return start_analysis(ctNode, workDir, python, **options)

    def startReclassify(self, ctNode, segmentationNode, workDir: str, python: str, **options) -> CliRun:
        """Start ``classify --mask`` on the edited segmentation; see :func:`.analysis.start_reclassify`."""
        return start_reclassify(ctNode, segmentationNode, workDir, python, **options)

    def loadResults(self, ctNode, outDir: str, previous: ResultNodes | None = None) -> ResultNodes:
        """Load a finished run's outputs; see :func:`.analysis.load_results`."""
        return load_results(self._scene(), ctNode, outDir, previous)

    def setThreshold(self, tableNode, threshold: float):
        """Redecide every level at a new threshold; see :func:`.findings_table.set_threshold`."""
        return set_threshold(tableNode, threshold)

    def setReview(self, tableNode, level: str, review: str | None):
        """Accept or reject a level's finding; see :func:`.findings_table.set_review`."""
        return set_review(tableNode, level, review)

    def tableFindings(self, tableNode):
        """The findings a table shows; see :func:`.findings_table.table_findings`."""
        return table_findings(tableNode)

    def levelAtRow(self, tableNode, row: int) -> str:
        """The level of a table row."""
        return level_at_row(tableNode, row)

    def resultNodes(self, tableNode) -> ResultNodes:
        """The segmentation and heat map of a findings table; see :func:`.analysis.result_nodes`."""
        return result_nodes(tableNode)

    def labelsFromSegmentation(self, segmentationNode, ctNode):
        """The C1..C7 label map of a segmentation on the CT grid; see :mod:`.segments`."""
        return labels_from_segmentation_node(segmentationNode, ctNode)

    def jumpToLevel(self, tableNode, level: str) -> bool:
        """Centre the slice views on a level's peak (its most suspicious voxel; else centroid); False if absent."""
        ras = level_focus_ras(table_findings(tableNode), level)
        if ras is None:
            return False
        jump_slice_views(self._scene(), ras)
        return True

    def showInSliceViews(self, ctNode, heatmapNode=None) -> None:
        """Show a CT (and a heat map over it) in every slice view; see :func:`.views.show_in_slice_views`."""
        show_in_slice_views(self._scene(), ctNode, heatmapNode)

    def setHeatOpacity(self, opacity: float) -> None:
        """Opacity of the heat map over the CT in the slice views (0..1)."""
        set_heat_opacity(self._scene(), opacity)

    def exportReview(self, folder: str, ctNode, results: ResultNodes, dicomFiles=None, overwrite: bool = False):
        """Export the reviewed result; see :func:`.review_export.export_review`."""
        return export_review(folder, ctNode, results.segmentation, results.table, results.heatmap, dicomFiles,
                             overwrite)

    def exportWouldReplace(self, folder: str) -> bool:
        """True when ``folder`` already holds files an export would write."""
        from pathlib import Path

        from .review_export import EXPORT_FILES

        return any((Path(folder) / name).exists() for name in EXPORT_FILES)

    def saveScenePicture(self, path: str, ctNode, results: ResultNodes) -> None:
        """Render the slice views and 3D view offscreen into a PNG; see :mod:`.render`."""
        from .render import save_png, scene_picture

        save_png(path, scene_picture(self._scene(), ctNode, results.segmentation, results.heatmap))

    def exportTrainingCase(self, root: str, caseId: str, ctNode, results: ResultNodes):
        """Export the corrected case for training; see :func:`.review_export.export_training_case`."""
        return export_training_case(root, caseId, ctNode, results.segmentation, results.table)


__all__ = [
    "CANCELLED", "CliRun", "ResultNodes", "SpineFractureLogic", "cli_command", "cli_environment",
    "ct_from_volume_node", "describe_volume_node", "edited_since_classified", "export_review",
    "export_training_case", "findings_table_node", "heatmap_node", "jump_slice_views", "labels_from_segmentation_node",
    "level_at_row", "level_focus_ras", "load_results", "load_sample", "lps_to_ras", "parse_progress",
    "result_nodes", "segmentation_node_from_labels", "set_heat_opacity", "set_review", "set_threshold",
    "show_in_slice_views", "start_analysis", "start_reclassify", "table_findings", "volume_node_from_ct",
    "write_input",
]
