"""Generate phantoms and record the classifier's raw outputs on them in many processes, for a
machine with many cores (and a GPU): the files ``cls_inference_choice.py --keep-raw`` reads.

Workers take the seeds one at a time from a shared queue: each generates the phantom, segments it,
runs the classifier (plain, mirrored, Grad-CAM) on ``--device``; the parent appends one JSON line per
case to ``OUT/parts/part-<weights sha256[:12]>.jsonl`` (a rerun skips the seeds found there). No
case starts after ``--deadline`` seconds, so a run on a borrowed machine ends in time with what it
has. The parent then writes (also when a worker fails), per seed range,
``OUT/raw-<weights sha256[:12]>-<first>-<n>.json`` for the longest run of consecutive seeds from
``first`` that finished (the queue keeps the seeds in order, so that run is nearly all that
finished; a first version gave each worker a fixed share and kept only 503 of 646 cases).

    python benchmarks/cls_raw_parallel.py --out RAW --seeds 810192 768 --seeds 900384 384 \
        [--workers 15] [--device cuda] [--deadline 480] [--model default] [--cache CACHE]

On CUDA, TF32 is switched off so that the segmentation and the classifier compute in float32 as
on a CPU. The shipped weights are trained on synthetic phantoms; these cases are phantoms too.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger("cls_raw_parallel")


_STATE: dict = {}


def _init_worker(model: str, device: str, cache: str | None, stop_at: float) -> None:
    """Load the classifier and (on first need) the segmenter once per worker process."""
    import torch

    from SpineFractureLib.data.phantom.threads import THREADS_ENV
    from SpineFractureLib.models.classifier_weights import load_classifier
    from SpineFractureLib.pipeline.segment import Segmenter

    if hasattr(os, "sched_setaffinity"):  # a launcher may pin the job to one core; the workers need all
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    torch.set_num_threads(1)  # one core per worker: the workers are the parallelism
    os.environ[THREADS_ENV] = "1"  # likewise for the phantom generator
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    loaded = load_classifier(model)
    _STATE.update(loaded=loaded, net=loaded.network.to(device), device=device, cache=cache, stop_at=stop_at,
                  new_segmenter=lambda: Segmenter("default", device))


def _segmenter():
    """The worker's one segmenter, built on first need (not at all where every case is cached)."""
    if "segmenter" not in _STATE:
        _STATE["segmenter"] = _STATE["new_segmenter"]()
    return _STATE["segmenter"]


def _case(seed: int) -> tuple[int, str | None]:
    """One seed's record as a JSON line (None past the deadline: the seed is left undone)."""
    from cls_inference_choice import case_record
    from SpineFractureLib.data.cls_cases import ClsCache
    from SpineFractureLib.data.phantom_loaders import phantom_loaders
    from SpineFractureLib.models.registry import segmenter_tag

    if time.time() > _STATE["stop_at"]:
        return seed, None
    store = ClsCache(phantom_loaders([seed]), _STATE["cache"], _segmenter, tag=segmenter_tag("default"))
    record = case_record(_STATE["net"], _STATE["loaded"].inputs, store[0], _STATE["device"])
    return seed, json.dumps({"seed": seed, "record": record}, default=lambda a: np.asarray(a).tolist())


def interleave(ranges: list[tuple[int, int]]) -> list[int]:
    """Seeds of all ranges, round-robin (so every range advances at the same pace)."""
    out: list[int] = []
    for i in range(max(count for _, count in ranges)):
        out += [first + i for first, count in ranges if i < count]
    return out


def merge(part: Path, out: Path, ranges: list[tuple[int, int]], sha12: str) -> dict[str, list[int]]:
    """Write ``raw-<sha12>-<first>-<n>.json`` per range (the longest finished run from ``first``);
    returns per range the ``n`` written, the cases in it with levels, and the seeds finished in all."""
    finished = _finished(part)
    summary = {}
    for first, count in ranges:
        n = 0
        while n < count and first + n in finished:
            n += 1
        cases = [finished[s] for s in range(first, first + n) if finished[s] is not None]
        if n:
            (out / f"raw-{sha12}-{first}-{n}.json").write_text(json.dumps(cases))
        summary[f"{first}+{count}"] = [n, len(cases), sum(first <= s < first + count for s in finished)]
        log.info("seeds %d..: %d consecutive finished (%d with levels), %d finished in all", first, n, len(cases),
                 summary[f"{first}+{count}"][2])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", nargs=2, type=int, action="append", required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--deadline", type=float, default=1e9, help="seconds after which no worker starts a case")
    parser.add_argument("--model", default="default")
    parser.add_argument("--cache", help="keep the prepared cases here too (train-cls / evaluate cache)")
    a = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from SpineFractureLib.models.classifier_weights import load_classifier

    sha12 = load_classifier(a.model).info.sha256[:12]
    (a.out / "parts").mkdir(parents=True, exist_ok=True)
    part = a.out / "parts" / f"part-{sha12}.jsonl"  # per weights: a rerun with other weights never mixes in
    ranges = [tuple(r) for r in a.seeds]
    finished = _finished(part)
    seeds = [s for s in interleave(ranges) if s not in finished]  # a rerun resumes
    t0 = time.time()
    done = 0
    # One task per seed from a shared queue (chunksize 1), so seeds finish nearly in order and the
    # consecutive run written below holds nearly every finished case. spawn, not fork: each
    # worker opens its own CUDA context. Whatever happens to the pool, what finished is merged.
    try:
        with ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                 initargs=(a.model, a.device, a.cache, t0 + a.deadline)) as pool, open(part, "a") as f:
            for seed, line in pool.map(_case, seeds, chunksize=1):
                if line is not None:
                    f.write(line + "\n")
                    f.flush()
                    done += 1
    finally:
        log.info("%d cases in %.0f s with %d workers on %s", done, time.time() - t0, a.workers, a.device)
        print(json.dumps(merge(part, a.out, ranges, sha12)))


def _finished(part: Path) -> dict[int, dict | None]:
    """The records already in ``part``, by seed."""
    if not part.is_file():
        return {}
    rows = (json.loads(line) for line in part.read_text().splitlines() if line.strip())
    return {int(row["seed"]): row["record"] for row in rows}


if __name__ == "__main__":
    main()
