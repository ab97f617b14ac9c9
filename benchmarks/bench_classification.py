"""Classification + Grad-CAM speed and peak memory on a 2-core CPU, against a MONAI DenseNet121 in the same run.

Each measurement runs in its own subprocess, so that its peak resident memory is its own.

    python benchmarks/bench_classification.py [--model default] [--repeats 3] [--threads 2]

A phantom neck CT (seed 424242, 160×160×200 mm at 1 mm, all seven levels) is segmented once (not
timed); then, per repeat, the classifier runs on the seven level ROIs with Grad-CAM (what
``analyze`` does after segmentation). The baseline is what a researcher would reach for first: a
MONAI 3D DenseNet121 (nine input channels, one output) on the same seven ROIs with MONAI's GradCAM
on its last dense block. Prints one JSON object: median seconds, peak RSS (GiB), ratios. Target:
classification + Grad-CAM of seven levels ≤ 10 s.
"""

from __future__ import annotations

import json

from subprocess_bench import bench_parser, run_measurement

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.pipeline.segment import Segmenter
what, repeats = sys.argv[1], int(sys.argv[4])
case = make_phantom(424242, PhantomConfig(size_xyz=(160, 160, 200), spacing=(1.0, 1.0, 1.0), pose=False))
seg = Segmenter("default", "cpu").segment(case.ct)
hu, labels, frac = seg.crop_hu.array, seg.crop_labels.array, seg.crop_fracture
times = []
if what == "ours":
    from SpineFractureLib.pipeline.classify import Classifier
    clf = Classifier(sys.argv[2], "cpu")
    for _ in range(repeats):
        t = time.perf_counter(); r = clf.classify(hu, labels, frac, gradcam=True); times.append(time.perf_counter() - t)
    levels = sum(p is not None for p in r.probabilities)
else:
    from monai.networks.nets import DenseNet121
    from monai.visualize import GradCAM
    from SpineFractureLib.preprocess.roi import extract_rois
    net = DenseNet121(spatial_dims=3, in_channels=9, out_channels=1).eval()
    cam = GradCAM(net, target_layers="class_layers.relu")
    for _ in range(repeats):
        t = time.perf_counter()
        rois = extract_rois(hu, labels, frac)
        x = torch.from_numpy(rois.channels)
        with torch.no_grad():
            torch.sigmoid(net(x))
        cam(x, class_idx=0)
        times.append(time.perf_counter() - t)
    levels = len(rois.levels)
peak = peak_gib()  # GiB (whole process, segmentation included)
print(json.dumps({"times": times, "peak_gib": peak, "levels": levels}))
"""


def main() -> None:
    args = bench_parser(__doc__.splitlines()[0]).parse_args()
    ours = run_measurement(CHILD, "ours", args.model, args.threads, args.repeats)
    dense = run_measurement(CHILD, "densenet", args.model, args.threads, args.repeats)
    print(json.dumps({
        "input": "phantom seed 424242, 160x160x200 mm at 1 mm; seven ROIs of 48x64x64 mm",
        "threads": args.threads, "classifier_with_gradcam": ours, "densenet121_with_gradcam": dense,
        "densenet_over_ours_time": round(dense["median_s"] / ours["median_s"], 2),
        "note": "peak memory is the whole process's, the segmentation run before the timed part included",
    }, indent=2))


if __name__ == "__main__":
    main()
