"""Benchmark: time to generate one 256×256×200 phantom (target ≤ 3 s on a 2-core CPU).

Reported as figures, with a same-process baseline (filling the same volume with noise and one
Gaussian blur: the floor of any realistic phantom) so the ratio is comparable across machines.

    python benchmarks/bench_phantom.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import ndimage

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
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
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
