"""Segmentation speed and peak memory on a 2-core CPU, against MONAI SwinUNETR in the same run.

Each measurement runs in its own subprocess, so that its peak resident memory is its own.

    pip install einops   # SwinUNETR needs it; not a dependency of the package
    python benchmarks/bench_segmentation.py [--model default] [--repeats 3]

Prints one JSON object: for our pipeline (crop + both networks + post-processing on a phantom neck
CT of 160×160×200 mm at 1 mm), and for our two networks alone (the 2 mm level network on the whole
crop, the 1 mm vertebra network in sliding windows) against a SwinUNETR (default size: feature_size
24) run with the same sliding window on the same 1 mm crop: median seconds, peak RSS (GiB), ratios.
"""

from __future__ import annotations

import json

from subprocess_bench import bench_parser, run_measurement

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[3]))
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
what, repeats = sys.argv[1], int(sys.argv[4])
case = make_phantom(424242, PhantomConfig(size_xyz=(160, 160, 200), spacing=(1.0, 1.0, 1.0), pose=False))
times = []
if what == "pipeline":
    from SpineFractureLib.pipeline.segment import Segmenter
    seg = Segmenter(sys.argv[2], "cpu")
    for _ in range(repeats):
        t = time.perf_counter(); seg.segment(case.ct); times.append(time.perf_counter() - t)
else:
    from monai.inferers import sliding_window_inference
    from SpineFractureLib.pipeline.segment import ROI_ZYX
    from SpineFractureLib.preprocess.channels import make_channels
    from SpineFractureLib.preprocess.crop import crop_to_box, find_spine_box
    crop = crop_to_box(case.ct, find_spine_box(case.ct))
    x = torch.from_numpy(make_channels(crop.array))[None]
    from SpineFractureLib.preprocess.coarse import coarse_channels, coarse_hu
    xc = torch.from_numpy(coarse_channels(coarse_hu(crop.array)))[None]
    if what == "unet":
        from SpineFractureLib.models.registry import load_segmentation_model
        model = load_segmentation_model(sys.argv[2])[0]
        net, levels = model.vertebra, model.levels
    else:
        from monai.networks.nets import SwinUNETR
        net, levels = SwinUNETR(in_channels=5, out_channels=9).eval(), None
    with torch.no_grad():
        for _ in range(repeats):
            t = time.perf_counter()
            if levels is not None:
                levels(xc)
            sliding_window_inference(x, ROI_ZYX, 1, net, overlap=0.25, mode="gaussian")
            times.append(time.perf_counter() - t)
peak = peak_gib()  # GiB
print(json.dumps({"times": times, "peak_gib": peak}))
"""


def main() -> None:
    args = bench_parser(__doc__.splitlines()[0]).parse_args()
    pipeline = run_measurement(CHILD, "pipeline", args.model, args.threads, args.repeats)
    unet = run_measurement(CHILD, "unet", args.model, args.threads, args.repeats)
    swin = run_measurement(CHILD, "swin", args.model, args.threads, args.repeats)
    print(json.dumps({
        "input": "phantom seed 424242, 160x160x200 mm at 1 mm; crop 112x128x192 mm; window 96x96x96",
        "threads": args.threads, "pipeline": pipeline, "unet_network": unet, "swinunetr_network": swin,
        "swinunetr_over_unet_time": round(swin["median_s"] / unet["median_s"], 2),
        "swinunetr_over_unet_peak_memory": round(swin["peak_gib"] / unet["peak_gib"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
