"""Fill a ``train-cls --cache`` folder with prepared phantom cases, in several processes.

``train-cls`` prepares uncached cases itself, one at a time (the segmentation runs once per case,
about 16 s on a 2-core CPU). This script splits the seeds over worker processes so that a cache
for a long run fills in a fraction of that time; the files are the ones ``train-cls`` and
``evaluate`` read (same keys, same segmentation tag).

    python benchmarks/prepare_cls_cache.py --cache CACHE --seeds 2000 240 --seeds 810000 48 --workers 2
    python benchmarks/prepare_cls_cache.py --cache CACHE --seeds 1400000 240 --anatomy mesh
    python benchmarks/prepare_cls_cache.py --cache CACHE --seeds 1520000 48 \
        --phantom-config '{"spacing": [3.2, 3.2, 1.5], "psf_fwhm_mm": 2.0}'
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger("prepare_cls_cache")


def _prepare(args: tuple[str, list[int], str, dict]) -> int:
    import torch

    from SpineFractureLib.data.cls_cases import ClsCache
    from SpineFractureLib.data.phantom.threads import THREADS_ENV
    from SpineFractureLib.data.phantom_loaders import phantom_loaders
    from SpineFractureLib.models.registry import segmenter_tag
    from SpineFractureLib.pipeline.segment import Segmenter

    cache, seeds, segmentation, phantom = args
    torch.set_num_threads(1)  # one core per worker: the workers are the parallelism
    os.environ[THREADS_ENV] = "1"  # likewise for the phantom generator
    store = ClsCache(phantom_loaders(seeds, phantom or None), cache, lambda: Segmenter(segmentation, "cpu"),
                     tag=segmenter_tag(segmentation))
    for i in range(len(store)):
        store[i]
    return len(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True)
    parser.add_argument("--seeds", nargs=2, type=int, action="append", required=True, metavar=("FIRST", "COUNT"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--segmentation", default="default")
    parser.add_argument("--difficulty", type=float, default=None, help="phantom difficulty (default: the generator's)")
    parser.add_argument("--anatomy", default="procedural", help="phantom vertebra shapes: procedural or mesh")
    parser.add_argument("--phantom-config", type=json.loads, default={}, metavar="JSON",
                        help="more PhantomConfig fields, e.g. '{\"spacing\": [3.2, 3.2, 1.5]}'")
    a = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seeds = [s for first, count in a.seeds for s in range(first, first + count)]
    phantom = {"anatomy": a.anatomy} | ({} if a.difficulty is None else {"difficulty": a.difficulty}) | a.phantom_config
    parts = [(a.cache, seeds[i::a.workers], a.segmentation, phantom) for i in range(a.workers)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        done = sum(pool.map(_prepare, parts))
    log.info("%d cases prepared or found in %s in %.0f s", done, a.cache, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
