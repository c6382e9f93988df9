"""The GIL is released while Rust works, and worker processes (fork,
forkserver, spawn) sample exactly what the parent does."""

import multiprocessing as mp
import threading
import time

import numpy as np
import pytest

import ferrograph


def _count_for(seconds, stop=None):
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def test_sampling_releases_the_gil(planted):
    s = ferrograph.NeighborSampler(planted, "link", [25, 25], seed=1)
    seeds = np.arange(5000)
    ferrograph.set_num_threads(1)
    solo = _count_for(1.0)
    done = threading.Event()
    calls = [0]

    def work():
        while not done.is_set():
            s.sample(seeds)
            ferrograph.gather(planted, "node", "feat", seeds)
            calls[0] += 1

    t = threading.Thread(target=work)
    t.start()
    try:
        time.sleep(0.1)
        shared = _count_for(1.0)
    finally:
        done.set()
        t.join(timeout=30)
    ferrograph.set_num_threads(2)
    assert calls[0] >= 2, "the sampling thread did not run"
    assert shared >= 0.5 * solo, f"the main thread ran at {shared / solo:.0%} of its solo rate while sampling"


def _worker_batches(args):
    path, seeds_list = args
    g = ferrograph.open(path)
    s = ferrograph.NeighborSampler(g, "link", [10, 5], seed=21)
    return [s.sample(seeds, epoch=1)["row"].tolist() for seeds in seeds_list], ferrograph.get_num_threads()


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_worker_processes_sample_what_the_parent_does(planted, planted_dir, method):
    # The parent samples on several threads first, so a forked child
    # inherits a started pool.
    ferrograph.set_num_threads(2)
    s = ferrograph.NeighborSampler(planted, "link", [10, 5], seed=21)
    batches = [np.arange(i, 5000, 97) for i in range(4)]
    expected = [s.sample(b, epoch=1)["row"].tolist() for b in batches]
    ctx = mp.get_context(method)
    with ctx.Pool(2) as pool:
        r = pool.map_async(_worker_batches, [(str(planted_dir), batches[:2]), (str(planted_dir), batches[2:])])
        got = r.get(timeout=60)
    assert got[0][0] + got[1][0] == expected
    if method == "fork":
        assert all(threads == 1 for _, threads in got), "a forked worker should sample on one thread"
