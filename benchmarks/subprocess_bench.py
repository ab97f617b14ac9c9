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


def run_measurement(child: str, what: str, model: str, threads: int, repeats: int) -> dict:
    """Run ``child`` (Python source printing one JSON line with ``times`` and ``peak_gib``) in a subprocess.

    Returns:
        ``median_s``, ``min_s``, ``peak_gib`` and any other key the child printed.
    """
    out = subprocess.run([sys.executable, "-c", child, what, model, str(threads), str(repeats)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    times = res.pop("times")
    return {"median_s": round(statistics.median(times), 2), "min_s": round(min(times), 2),
            "peak_gib": round(res.pop("peak_gib"), 2), **res}
