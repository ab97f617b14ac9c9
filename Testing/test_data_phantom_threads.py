"""The generator's threads change nothing: the same bytes with one thread or several."""

import numpy as np
import pytest
from scipy import ndimage

from SpineFractureLib.data.phantom import PhantomConfig, make_phantom
from SpineFractureLib.data.phantom.realism import gaussian_filter_slabs
from SpineFractureLib.data.phantom.threads import THREADS_ENV, ordered_map, phantom_threads


def test_ordered_map_keeps_order_and_runs_ahead_at_most_threads():
    import threading
    import time

    running, peak, lock = [0], [0], threading.Lock()

    def slow_square(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01 * (5 - x % 5))  # later items finish first
        with lock:
            running[0] -= 1
        return x * x

    assert list(ordered_map(slow_square, range(12), 3)) == [x * x for x in range(12)]
    assert 1 < peak[0] <= 3
    assert list(ordered_map(slow_square, range(4), 1)) == [0, 1, 4, 9]


@pytest.mark.parametrize("sigma, mode, truncate", [((1.3, 0.8, 0.8), "nearest", 3.0), ((0.0, 0.6, 0.6), "reflect", 2.5),
                                                   ((2.5, 0.5, 1.0), "nearest", 3.0), ((1.3, 0.8, 0.8), "wrap", 3.0)])
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_slab_filter_is_scipys_byte_for_byte(sigma, mode, truncate, threads):
    a = np.random.default_rng(0).normal(0, 100, (41, 17, 13)).astype(np.float32)
    expected = ndimage.gaussian_filter(a, sigma=sigma, mode=mode, truncate=truncate)
    got = gaussian_filter_slabs(a.copy(), sigma, mode, truncate, threads)
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("config", [dict(size_xyz=(80, 80, 100), spacing=(1.6, 1.6, 1.6), texture=True),
                                    dict(fov="head-neck", size_xyz=(72, 72, 110), spacing=(2.5, 2.5, 2.5))])
def test_phantom_same_bytes_with_one_or_several_threads(monkeypatch, config):
    cases = []
    for threads in ("1", "3"):
        monkeypatch.setenv(THREADS_ENV, threads)
        assert phantom_threads() == int(threads)
        cases.append(make_phantom(5, PhantomConfig(**config)))
    one, several = cases
    for attr in ("ct", "labels", "fracture"):
        assert getattr(one, attr).array.tobytes() == getattr(several, attr).array.tobytes()
    assert one.truth == several.truth
