"""`analyze` speed and peak memory on a 2-core CPU: a 512×512×400 phantom neck CT and the real series.

Each measurement runs in its own subprocess (its own peak resident memory). The baseline, in the
same run, is what any tool must do with such a CT at the least: read it, resample it to 1 mm
(SimpleITK, linear) and write a label map back on the input grid (nearest neighbour). Target
(the analyze issue): ≤ 30 s wall and ≤ 3 GiB peak for the phantom.

    python benchmarks/bench_analyze.py [--model default] [--repeats 1] [--threads 2]

Prints one JSON object: per input, median seconds, peak RSS (GiB), each stage's share of the
total (from findings.json's timings), and the ratio to the baseline.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from real_scans import REAL_SCANS
from subprocess_bench import bench_parser, run_measurement

SHARED_SERIES = REAL_SCANS["head-neck"][0]

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[3]))
what, model, repeats = sys.argv[1], sys.argv[2], int(sys.argv[4])
mode, path = what.split(":", 1)
times, timings = [], {}
if mode == "analyze":
    from SpineFractureLib.io import load_ct
    from SpineFractureLib.pipeline.analyze import Analyzer
    from SpineFractureLib.pipeline.outputs import write_outputs
    analyzer = Analyzer(model, "default", "cpu")
    for _ in range(repeats):
        out = Path(tempfile.mkdtemp()) / "out"
        t = time.perf_counter()
        t0 = time.perf_counter(); ct = load_ct(path, auto_hu_correction=True); load = time.perf_counter() - t0
        analysis = analyzer.analyze(ct, load_seconds=load)
        write_outputs(analysis, out)
        times.append(time.perf_counter() - t)
        timings = json.loads((out / "findings.json").read_text())["timings_s"]
        del analysis, ct  # as batch does between cases: the next repeat's peak is its own
else:
    import numpy as np, SimpleITK as sitk
    from SpineFractureLib.io import load_ct
    from SpineFractureLib.preprocess.geometry import resample, resample_like
    for _ in range(repeats):
        t = time.perf_counter()
        ct = load_ct(path, auto_hu_correction=True)
        iso = resample(ct, 1.0, axis_aligned=True)
        labels = resample_like(iso.with_array((iso.array > 300).astype(np.uint8)), ct, is_label=True)
        sitk.WriteImage(labels.to_sitk(), str(Path(tempfile.mkdtemp()) / "labels.nii.gz"))
        times.append(time.perf_counter() - t)
peak = peak_gib()  # GiB
print(json.dumps({"times": times, "peak_gib": peak, "timings_s": timings}))
"""


def _phantom(folder: Path) -> Path:
    import numpy as np

    from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
    from SpineFractureLib.export.volumes import write_volume

    case = make_phantom(424243, PhantomConfig(size_xyz=(512, 512, 400), spacing=(0.35, 0.35, 0.5), fracture_rate=1.0))
    return write_volume(folder / "phantom-512x512x400.nii.gz", case.ct, case.ct.array, np.int16)


def main() -> None:
    args = bench_parser(__doc__.splitlines()[0]).parse_args()
    results = {"threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {"phantom 512x512x400 (0.35x0.35x0.5 mm)": _phantom(Path(tmp))}
        if SHARED_SERIES.is_dir():
            inputs["real head-neck DICOM series (../shared/data)"] = SHARED_SERIES
        for name, path in inputs.items():
            ours = run_measurement(CHILD, f"analyze:{path}", args.model, args.threads, args.repeats)
            base = run_measurement(CHILD, f"baseline:{path}", args.model, args.threads, args.repeats)
            stages = ours.pop("timings_s")
            total = stages.get("total") or 1.0
            ours["stage_share"] = {k: round(v / total, 3) for k, v in stages.items() if k != "total"}
            base.pop("timings_s")
            results[name] = {"analyze": ours, "baseline_read_resample_write": base,
                             "analyze_over_baseline_time": round(ours["median_s"] / base["median_s"], 2),
                             "analyze_over_baseline_peak_memory": round(ours["peak_gib"] / base["peak_gib"], 2)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
