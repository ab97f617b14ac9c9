"""Benchmark: time to generate one 256×256×200 neck phantom (target ≤ 3 s on a 2-core CPU) and one
512×512×600 whole-body phantom with contrast (target ≤ 20 s), with the peak memory of each.

Reported as figures, with a same-process baseline (filling the same volume with noise and one
Gaussian blur: the floor of any realistic phantom) so the ratio is comparable across machines.

    python benchmarks/bench_phantom.py [--repeat 3] [--whole-body-repeat 1] [--mesh-repeat 0]

``--mesh-repeat N`` also times the same neck drawn with real-shape (mesh) vertebrae, with and
without the joint spaces carved between neighbours (``mesh_anatomy.JOINT_GAP_MM``), in this process.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import ndimage

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom


WHOLE_BODY_CHILD = """
import json, sys, time
from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
cfg = PhantomConfig(fov="whole-body", contrast="arterial", size_xyz=(512, 512, 600), spacing=(0.9, 0.9, 1.5))
times = []
for seed in range(int(sys.argv[4])):
    t = time.perf_counter()
    make_phantom(seed, cfg)
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "peak_gib": peak_gib()}))
"""


def _whole_body(repeat: int) -> dict:
    """Whole-body phantoms at 0.9 × 0.9 × 1.5 mm (461 × 461 × 900 mm), in a child process for its own peak."""
    from subprocess_bench import run_measurement

    return run_measurement(WHOLE_BODY_CHILD, "whole-body", "none", 2, repeat) | {"target_s": 20.0}


def _mesh_neck(config: PhantomConfig, repeat: int) -> dict:
    """Median seconds of mesh-anatomy necks with the joint spaces carved and without (same seeds)."""
    from dataclasses import replace

    from SpineFractureLib.data.phantom import mesh_anatomy

    mesh = replace(config, anatomy="mesh")
    make_phantom(0, mesh)  # the templates are built once per process
    gap, out = mesh_anatomy.JOINT_GAP_MM, {}
    try:
        for name, value in (("joints", gap), ("no_joints", 0.0)):
            mesh_anatomy.JOINT_GAP_MM = value
            times = []
            for seed in range(1, repeat + 1):
                t0 = time.perf_counter()
                make_phantom(seed, mesh)
                times.append(time.perf_counter() - t0)
            out[name] = round(float(np.median(times)), 3)
    finally:
        mesh_anatomy.JOINT_GAP_MM = gap
    return out | {"joint_share": round(1.0 - out["no_joints"] / out["joints"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-body-repeat", type=int, default=1, help="0: skip the whole-body phantom")
    parser.add_argument("--mesh-repeat", type=int, default=0, help="mesh-anatomy necks to time (0: none)")
    args = parser.parse_args()
    config = PhantomConfig(size_xyz=(256, 256, 200), spacing=(0.7, 0.7, 1.0), fracture_rate=1.0)
    make_phantom(0, config)  # warm-up (imports, allocator)
    times, base = [], []
    for seed in range(1, args.repeat + 1):
        t0 = time.perf_counter()
        make_phantom(seed, config)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        vol = np.random.default_rng(seed).standard_normal((200, 256, 256), dtype=np.float32)
        ndimage.gaussian_filter(vol, 1.0, output=vol)
        base.append(time.perf_counter() - t0)
    result = {
        "phantom_256x256x200_s": {"median": round(float(np.median(times)), 3), "all": [round(t, 3) for t in times]},
        "baseline_noise_blur_s": round(float(np.median(base)), 3),
        "ratio_to_baseline": round(float(np.median(times) / np.median(base)), 2),
        "target_s": 3.0,
    }
    if args.mesh_repeat:
        result["mesh_neck_256x256x200_s"] = _mesh_neck(config, args.mesh_repeat)
    if args.whole_body_repeat:
        result["whole_body_512x512x600"] = _whole_body(args.whole_body_repeat)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
