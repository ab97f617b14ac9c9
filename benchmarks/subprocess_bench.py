"""What the speed benchmarks share: one measurement per subprocess (its own peak memory), the common flags."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def bench_parser(description: str) -> argparse.ArgumentParser:
    """The flags every speed benchmark takes: ``--model``, ``--repeats``, ``--threads``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    return parser


#: Prepended to every child: ``peak_gib()``, the child's own peak resident memory. Linux keeps
#: ``ru_maxrss`` across exec, so a child started by a parent holding a 512×512×400 phantom read the
#: parent's 2.2 GiB as its own; ``VmHWM`` starts afresh with the child's program.
PEAK_HELPER = r"""
def peak_gib():
    import resource
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # KiB -> GiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # elsewhere (KiB on Linux)
"""


def run_measurement(child: str, what: str, model: str, threads: int, repeats: int) -> dict:
    """Run ``child`` (Python source printing one JSON line with ``times`` and ``peak_gib``) in a subprocess.

    The child can call ``peak_gib()`` (see :data:`PEAK_HELPER`).

    Returns:
        ``median_s``, ``min_s``, ``peak_gib`` and any other key the child printed.
    """
    out = subprocess.run([sys.executable, "-c", PEAK_HELPER + child, what, model, str(threads), str(repeats)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    times = res.pop("times")
    return {"median_s": round(statistics.median(times), 2), "min_s": round(min(times), 2),
            "peak_gib": round(res.pop("peak_gib"), 2), **res}
