"""Threads for the phantom generator: numpy and scipy release the GIL in their array loops, so
independent parts of one phantom (slabs, bones, blur chunks) run on several cores at once while
the result stays the same, byte for byte."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
#: Environment variable that sets the threads per phantom (default: the usable cores, at most 4).
THREADS_ENV = "SPINEFRACTURE_PHANTOM_THREADS"


def phantom_threads() -> int:
    """Threads one phantom may use: ``$SPINEFRACTURE_PHANTOM_THREADS`` or the usable cores (≤ 4).

    Processes that generate phantoms side by side (cache workers) set the variable to 1;
    DataLoader workers get 1.
    """
    value = os.environ.get(THREADS_ENV)
    if value:
        return max(1, int(value))
    if "torch" in sys.modules and sys.modules["torch"].utils.data.get_worker_info() is not None:
        return 1  # a DataLoader worker: the workers are the parallelism

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """``map(fn, items)`` with up to ``threads`` calls running ahead, results in order.

    At most ``threads`` results wait at a time (bounds the memory of large intermediates).
    """
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
