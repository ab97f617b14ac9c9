"""Segment, classify and explain one case; save the Grad-CAM picture and print the probabilities.

    python benchmarks/gradcam_overlay.py OUT.png --phantom SEED [--difficulty D] \
        [--phantom-config '{"anatomy": "mesh", "fov": "neck"}']
    python benchmarks/gradcam_overlay.py OUT.png --real head-neck|chest [--model default]

A phantom (use held-out seeds, 900000 and up) shows the true fracture region outlined in white
and the true fractured levels starred. ``--real`` runs the real CTs in ../shared/data (no
fracture labels: the figures say what the model does on real anatomy, not how right it is). Prints
one JSON object: per-level probabilities, decisions, peaks and, for phantoms, the truth.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from SpineFractureLib.constants import LEVELS
from SpineFractureLib.io import load_ct
from SpineFractureLib.pipeline.classify import Classifier
from SpineFractureLib.pipeline.segment import Segmenter
from SpineFractureLib.preprocess.crop import crop_to_box
from SpineFractureLib.report.gradcam_figure import save_gradcam_figure

from real_scans import REAL_SCANS

REAL = {name: REAL_SCANS[name][0] for name in ("head-neck", "chest")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--phantom", type=int)
    source.add_argument("--real", choices=sorted(REAL))
    parser.add_argument("--difficulty", type=float)
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON",
                        help="more PhantomConfig fields (anatomy, fov, cancellous_hu, ...)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--segmentation", default="default")
    args = parser.parse_args()
    truth_region = truth_levels = None
    if args.phantom is not None:
        from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
        from SpineFractureLib.data.cls_cases import fractured_vector

        case = make_phantom(args.phantom, PhantomConfig(difficulty=args.difficulty, **args.phantom_config))
        ct, label = case.ct, f"phantom {args.phantom}" + (f", difficulty {args.difficulty}" if args.difficulty else "")
        label += "".join(f", {k} {v}" for k, v in args.phantom_config.items())
        truth_levels = fractured_vector(case.truth).tolist()
    else:
        ct, label = load_ct(REAL[args.real], auto_hu_correction=True), f"real CT ({args.real}, ../shared/data)"
    seg = Segmenter(args.segmentation, "cpu")
    s = seg.segment(ct)
    if args.phantom is not None and case.fracture is not None:
        truth_region = crop_to_box(case.fracture, s.box, is_label=True).array
    clf = Classifier(args.model, "cpu")
    r = clf.classify(s.crop_hu.array, s.crop_labels.array, s.crop_fracture)
    info, sinfo = clf.model_info, seg.model_info
    # No level found (the real chest CT since the anatomical checks): no heat, the CT and empty bars.
    heat = r.heatmap if r.heatmap is not None else np.zeros(s.crop_hu.array.shape, np.float32)
    save_gradcam_figure(s.crop_hu.array, s.crop_labels.array, heat, r.probabilities, r.threshold, args.out,
                        peak_zyx=r.peak_zyx, truth_region=truth_region, truth_levels=truth_levels,
                        title=f"{label}: patient probability {r.patient_probability if r.patient_probability is None else round(r.patient_probability, 3)}"
                              f" ({r.operating_point} thresholds: patient {r.patient_threshold:.2f}, level {r.threshold:.2f})",
                        note=f"{info.name} {info.version} + {sinfo.name} {sinfo.version}, trained on "
                             f"{info.trained_on}; research use only, not for clinical use")
    out = {"case": label, "patient_probability": r.patient_probability, "patient_threshold": r.patient_threshold,
           "threshold": r.threshold,
           "levels": {lv: {"probability": None if p is None else round(p, 4), "fracture": f, "peak_zyx": pk}
                      for lv, p, f, pk in zip(LEVELS, r.probabilities, r.fractured, r.peak_zyx)},
           "timings_s": {k: round(v, 2) for k, v in r.timings_s.items()}}
    if truth_levels is not None:
        out["truth"] = dict(zip(LEVELS, truth_levels))
        out["truth_kinds"] = {lv: e.get("kind") for lv, e in case.truth.get("levels", {}).items() if e.get("fractured")}
    print(json.dumps(out, indent=1, default=lambda v: int(v) if isinstance(v, np.integer) else str(v)))


if __name__ == "__main__":
    main()
