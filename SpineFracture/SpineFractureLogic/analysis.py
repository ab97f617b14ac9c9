"""One analysis of a CT volume node: write the input, start the CLI, load its outputs into MRML.

Nothing is added to the scene until a run has ended well (:func:`load_results`): a cancelled or
failed run leaves the scene exactly as it was. A reclassification updates the table and the heat
map and never touches the segmentation node, which holds the user's edits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import slicer

from .cli_process import CliRun, Launcher, cli_command, popen_launcher
from .findings_table import findings_table_node
from .segments import INPUT_ATTRIBUTE, labels_from_segmentation_node, segmentation_node_from_labels
from .views import heatmap_node, show_in_slice_views
from .volumes import ct_from_volume_node

logger = logging.getLogger(__name__)

INPUT_FILE = "input.nrrd"
MASK_FILE = "mask.nii.gz"
#: Attribute of the segmentation node: the sha1 of the label map the findings were computed on.
CLASSIFIED_LABELS_ATTRIBUTE = "SpineFracture.ClassifiedLabelsSha1"
SEGMENTATION_ATTRIBUTE = "SpineFracture.SegmentationID"
HEATMAP_ATTRIBUTE = "SpineFracture.HeatmapID"


@dataclass
class ResultNodes:
    """The nodes one analysis made (heat map None when run without Grad-CAM)."""

    segmentation: slicer.vtkMRMLSegmentationNode
    table: slicer.vtkMRMLTableNode
    heatmap: slicer.vtkMRMLScalarVolumeNode | None


def write_input(ct_node: slicer.vtkMRMLScalarVolumeNode, folder: str | os.PathLike) -> Path:
    """Write the CT node with a volume storage node (NRRD, uncompressed: fastest to write and read).

    The storage node writes the node's IJK-to-RAS geometry into the file as LPS, as every Slicer
    writer does, so the CLI reads exactly the node's grid.

    Returns:
        The file written, ``folder/input.nrrd``.
    """
    path = Path(folder) / INPUT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.UseCompressionOff()
    if not storage.WriteData(ct_node):
        raise RuntimeError(f"could not write the volume '{ct_node.GetName()}' to {path}")
    return path


def labels_sha1(labels: np.ndarray) -> str:
    """Fingerprint of a label map, to tell whether a segmentation was edited since it was classified."""
    return hashlib.sha1(np.ascontiguousarray(labels, np.uint8).tobytes()).hexdigest()


def start_analysis(
    ct_node: slicer.vtkMRMLScalarVolumeNode,
    work_dir: str | os.PathLike,
    python: str,
    *,
    launcher: Launcher = popen_launcher,
    **options,
) -> CliRun:
    """Write the CT into ``work_dir`` and start ``analyze`` on it (outputs in ``work_dir/out``).

    Args:
        ct_node: the CT.
        work_dir: a new, empty folder for the input and the outputs.
        python: the interpreter (``PythonSlicer`` inside Slicer).
        launcher: starts the child (``slicer.util.launchConsoleProcess`` inside Slicer).
        options: ``device``, ``model``, ``classifier``, ``threshold``, ``gradcam`` of
            :func:`.cli_process.cli_command`.

    Returns:
        The started run; poll it, then call :func:`load_results` when it succeeded.
    """
    input_path = write_input(ct_node, work_dir)
    args = cli_command(python, "analyze", input_path, Path(work_dir) / "out", **options)
    return CliRun(args, launcher).start()


def start_reclassify(
    ct_node: slicer.vtkMRMLScalarVolumeNode,
    segmentation_node: slicer.vtkMRMLSegmentationNode,
    work_dir: str | os.PathLike,
    python: str,
    *,
    launcher: Launcher = popen_launcher,
    **options,
) -> CliRun:
    """Export the (edited) segmentation to a label map on the CT grid and start ``classify --mask``.

    Args: as :func:`start_analysis`, plus the segmentation node; ``model`` (segmentation) is not
        used by ``classify``.

    Raises:
        ValueError: the segmentation holds no C1..C7 segment, or two segments claim one level.
    """
    from SpineFractureLib.export.volumes import write_labels

    labels, ignored = labels_from_segmentation_node(segmentation_node, ct_node)
    if not labels.any():
        raise ValueError(f"segmentation '{segmentation_node.GetName()}' has no segment named C1..C7 with voxels")
    if ignored:
        logger.info("segments left out of the reclassification (no level name): %s", ", ".join(ignored))
    input_path = write_input(ct_node, work_dir)
    mask_path = write_labels(Path(work_dir) / MASK_FILE, ct_from_volume_node(ct_node), labels)
    segmentation_node.SetAttribute(CLASSIFIED_LABELS_ATTRIBUTE + ".pending", labels_sha1(labels))
    options.pop("model", None)
    args = cli_command(python, "classify", input_path, Path(work_dir) / "out", mask=mask_path, **options)
    return CliRun(args, launcher).start()


def load_results(
    scene: slicer.vtkMRMLScene,
    ct_node: slicer.vtkMRMLScalarVolumeNode,
    out_dir: str | os.PathLike,
    previous: ResultNodes | None = None,
) -> ResultNodes:
    """Load an ``analyze`` or ``classify`` output folder into the scene.

    Args:
        scene: the scene.
        ct_node: the CT the outputs belong to.
        out_dir: the CLI's output folder (findings.json, segmentation.nii.gz, gradcam.nii.gz).
        previous: the nodes of the analysis being reclassified: its table and heat map are updated
            in place, its segmentation node is kept as it is (the user's edits); None = a new
            analysis with new nodes.

    Returns:
        The result nodes. The heat map is shown over the CT in every slice view.

    Raises:
        ValueError: an output is missing or not on the CT's grid.
    """
    from SpineFractureLib.export.findings import Findings
    from SpineFractureLib.io.image_files import read_image_file, read_mask_on_grid

    out_dir = Path(out_dir)
    findings_path = out_dir / "findings.json"
    if not findings_path.is_file():
        raise ValueError(f"{findings_path}: missing; the analysis wrote no findings")
    findings = Findings.from_dict(json.loads(findings_path.read_text(encoding="utf-8")))
    grid = ct_from_volume_node(ct_node)

    heat = None
    heat_path = out_dir / "gradcam.nii.gz"
    if heat_path.is_file():
        heat_volume = read_image_file(heat_path)
        if not heat_volume.same_grid(grid, tol_mm=1e-2):
            raise ValueError(f"{heat_path}: not on the grid of '{ct_node.GetName()}'")
        heat = heat_volume.array

    if previous is None:
        labels = read_mask_on_grid(out_dir / "segmentation.nii.gz", grid).array
        segmentation = segmentation_node_from_labels(scene, labels, ct_node,
                                                     name=f"{ct_node.GetName()} vertebrae")
        segmentation.SetAttribute(CLASSIFIED_LABELS_ATTRIBUTE, labels_sha1(labels))
        table = findings_table_node(scene, findings, name=f"{ct_node.GetName()} findings")
        heat_node = None
    else:
        segmentation, table, heat_node = previous.segmentation, previous.table, previous.heatmap
        pending = segmentation.GetAttribute(CLASSIFIED_LABELS_ATTRIBUTE + ".pending")
        if pending:
            segmentation.SetAttribute(CLASSIFIED_LABELS_ATTRIBUTE, pending)
            segmentation.RemoveAttribute(CLASSIFIED_LABELS_ATTRIBUTE + ".pending")
        findings_table_node(scene, findings, node=table)
    if heat is not None:
        heat_node = heatmap_node(scene, grid, heat, name=f"{ct_node.GetName()} Grad-CAM", node=heat_node)
    for node in (segmentation, table, heat_node):
        if node is not None:
            node.SetAttribute(INPUT_ATTRIBUTE, ct_node.GetID())
    table.SetAttribute(SEGMENTATION_ATTRIBUTE, segmentation.GetID())
    if heat_node is not None:
        table.SetAttribute(HEATMAP_ATTRIBUTE, heat_node.GetID())
    show_in_slice_views(scene, ct_node, heat_node)
    return ResultNodes(segmentation, table, heat_node)


def result_nodes(table: slicer.vtkMRMLTableNode) -> ResultNodes:
    """The result nodes linked from a findings table (e.g. after a scene was saved and reloaded).

    Raises:
        ValueError: the table's segmentation node is gone.
    """
    scene = table.GetScene()
    segmentation = scene.GetNodeByID(table.GetAttribute(SEGMENTATION_ATTRIBUTE) or "")
    if segmentation is None:
        raise ValueError(f"the segmentation of '{table.GetName()}' is no longer in the scene")
    heat_id = table.GetAttribute(HEATMAP_ATTRIBUTE)
    return ResultNodes(segmentation, table, scene.GetNodeByID(heat_id) if heat_id else None)


def edited_since_classified(segmentation: slicer.vtkMRMLSegmentationNode,
                            ct_node: slicer.vtkMRMLScalarVolumeNode) -> bool:
    """True when the segments differ from the label map the current findings were computed on."""
    labels, _ignored = labels_from_segmentation_node(segmentation, ct_node)
    return labels_sha1(labels) != segmentation.GetAttribute(CLASSIFIED_LABELS_ATTRIBUTE)


__all__ = ["CLASSIFIED_LABELS_ATTRIBUTE", "INPUT_FILE", "MASK_FILE", "ResultNodes", "edited_since_classified",
           "labels_sha1", "load_results", "result_nodes", "start_analysis", "start_reclassify", "write_input"]
