"""The module's *Load sample* case: the demo phantom as a volume node, for a first try in seconds."""

from __future__ import annotations

import slicer

from .volumes import volume_node_from_ct

SAMPLE_NAME = "SpineFracture sample phantom"


def load_sample(scene: slicer.vtkMRMLScene) -> tuple[slicer.vtkMRMLScalarVolumeNode, list[str]]:
    """Add the demo phantom (synthetic neck CT with a known fracture) to the scene.

    Returns:
        The CT volume node (bone window) and the truly fractured levels, head to feet.
    """
    from SpineFractureLib.data.demo_case import fractured_levels, make_demo_case

    case = make_demo_case()
    node = volume_node_from_ct(scene, case.ct, SAMPLE_NAME)
    node.SetAttribute("SpineFracture.TrueFractures", ",".join(fractured_levels(case)))
    display = node.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevel(1800.0, 400.0)  # the first of the seeds' bone windows
    return node, fractured_levels(case)


__all__ = ["SAMPLE_NAME", "load_sample"]
