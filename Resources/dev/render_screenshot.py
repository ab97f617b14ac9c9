"""Make ``Resources/Screenshot01.png``: the module's sample case analysed with the shipped models,
rendered offscreen from the MRML scene the module's logic builds (slicer-core, EGL).

    python Resources/dev/render_screenshot.py [--out Resources/Screenshot01.png]

Views: sagittal and coronal through the centroid of the most suspicious level (CT in the bone
window, the levels as a label layer, the Grad-CAM heat map as foreground), and the 3D view of the
closed surfaces. The shipped weights are trained on synthetic phantoms; so is the case.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "SpineFracture"), str(REPO / "Testing")]

import SpineFractureLogic as logic  # noqa: E402
from SpineFractureLogic import render  # noqa: E402
from slicer_scene import scene_with_views  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "Resources" / "Screenshot01.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    scene = scene_with_views()
    ct_node, truth = logic.load_sample(scene)
    with tempfile.TemporaryDirectory() as work:
        run = logic.start_analysis(ct_node, work, sys.executable, device="cpu")
        if run.wait(900) != 0:
            raise SystemExit(f"analysis failed: {run.error_message()}")
        results = logic.load_results(scene, ct_node, Path(work) / "out")
    findings = logic.table_findings(results.table)
    p, level = max((v.fracture_probability or 0.0, v.level) for v in findings.vertebrae)
    logic.jump_slice_views(scene, logic.lps_to_ras(findings.level(level).centroid_lps_mm))
    render.save_png(args.out, render.scene_picture(scene, ct_node, results.segmentation, results.heatmap))
    logging.info("most suspicious %s (%.2f), true fractures %s: wrote %s", level, p, truth, args.out)


if __name__ == "__main__":
    main()
