"""Python-side throughput on the peers' R-MAT workload (1M nodes, 10M edges,
128-wide features; seeds from rmat/seeds.npy, batches of 1,024, fan-outs
[15, 10] over in-neighbours), in one run:

1. `NeighborSampler.sample` from Python against `ferrograph bench sample
   --snapshot` (the Rust sampler alone, on the same mapped snapshot),
   seeds/s at each thread count;
2. PyG's `NodeLoader` over ferrograph (`ferrograph.pyg.NeighborLoader`)
   against PyG's own `NeighborLoader` over a `Data` object, batches/s
   with feature rows (x) gathered;
3. `ferrograph.gather` against `torch.index_select` on the same rows of the
   same memory.

    PYTHONPATH=<wheel dir> python bench/python/throughput.py --data ~/.cache/ferrograph-peers/data --bin target/release/ferrograph

Prints one JSON line per measurement.
"""

import argparse
import concurrent.futures as cf
import json
import os

# As bench/vs_peers.sh runs the peers: OpenMP threads (torch's) sleep when
# idle instead of spinning for ~100 ms after each parallel op, which on a
# 2-core machine takes the core from the other loader's work. Set before
# torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import statistics
import subprocess
import threading
import time

import numpy as np

import ferrograph


def emit(**kw):
    print(json.dumps(kw), flush=True)


class _Batches:
    """The batches of one pass, handed out one at a time to whichever
    thread asks first."""

    def __init__(self, batches):
        self._it = iter(batches)
        self._lock = threading.Lock()

    def next(self):
        """The next batch, or None when the pass is over."""
        with self._lock:
            return next(self._it, None)


def sampler_vs_cli(g, snapshot, seeds, threads, reps, binary, data, rounds):
    """Alternates a Python pass (median of `reps`) and a `ferrograph bench
    sample` process `rounds` times and compares the medians (this shared
    VM's speed drifts by tens of percent). Both sample the same mapped
    snapshot (`bench sample --snapshot`)."""
    for t in threads:
        ferrograph.set_num_threads(t)
        s = ferrograph.NeighborSampler(g, "rev_edge", [15, 10], "random_without_replacement", seed=0)
        batches = [seeds[i : i + 1024] for i in range(0, len(seeds), 1024)]
        # t Python threads made once, as a loader's are (a new thread starts
        # with cold per-thread scratch: the sampler's 8 MB node map), each
        # taking the next batch of a shared queue and sampling it with the
        # GIL released, as the Rust bench's t workers take batches (rayon
        # hands them out as they finish; a fixed every-t-th split left one
        # thread waiting whenever the host slowed the other's vCPU); each
        # result is dropped once made, as the Rust bench drops its own.
        ex = cf.ThreadPoolExecutor(t)

        def part(queue, rep):
            while (b := queue.next()) is not None:
                s.sample(b, epoch=rep)

        def run(rep):
            q = _Batches(batches)
            list(ex.map(part, [q] * t, [rep] * t))

        run(0)  # warm: the mapping's pages, each thread's scratch
        py, rust = [], []
        for _ in range(rounds):
            times = []
            for rep in range(reps):
                t0 = time.perf_counter()
                run(rep)
                times.append(time.perf_counter() - t0)
            py.append(len(seeds) / statistics.median(times))
            cli = subprocess.run([binary, "--threads", str(t), "bench", "sample", "--data", data, "--snapshot", snapshot, "--reps", str(reps),
                                  "--thread-counts", str(t)], capture_output=True, text=True, check=True)
            line = next(l for l in cli.stdout.splitlines() if l.startswith("RESULT "))
            rust.append(json.loads(line[len("RESULT "):])["seeds_per_s"])
        ex.shutdown()
        p, r = statistics.median(py), statistics.median(rust)
        # `paired`: the median of the per-round ratios, each Python pass
        # against the CLI run right after it (robust to the host's drift,
        # which moves both medians apart when it changes mid-run).
        paired = statistics.median(a / b for a, b in zip(py, rust))
        emit(measure="sample", threads=t, python_seeds_per_s=p, rust_seeds_per_s=r, ratio=p / r, paired=paired, python_runs=py, rust_runs=rust)


def loaders(g, snapshot_feat, seeds, steps, threads):
    import torch
    from torch_geometric.data import Data
    from torch_geometric.loader import NeighborLoader as PygNeighborLoader

    import ferrograph.pyg

    torch.set_num_threads(threads)
    ferrograph.set_num_threads(threads)
    input_nodes = torch.from_numpy(seeds[: steps * 1024].astype(np.int64))
    t0 = time.perf_counter()
    ours = ferrograph.pyg.NeighborLoader(g, [15, 10], input_nodes=input_nodes, relation="rev_edge", attrs={"x": "feat"}, batch_size=1024)
    ours_init = time.perf_counter() - t0
    indptr, indices = g.csr("edge")
    src = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr.astype(np.int64)))
    x = torch.from_numpy(np.array(snapshot_feat))
    data = Data(x=x, edge_index=torch.stack([torch.from_numpy(src), torch.from_numpy(indices.astype(np.int64))]), num_nodes=len(indptr) - 1)
    del src
    t0 = time.perf_counter()
    theirs = PygNeighborLoader(data, num_neighbors=[15, 10], input_nodes=input_nodes, batch_size=1024)
    theirs_init = time.perf_counter() - t0
    runs = {"ferrograph.pyg.NeighborLoader": [], "torch_geometric NeighborLoader": []}
    for _ in range(3):  # alternating, so that drift hits both alike
        for name, loader in [("ferrograph.pyg.NeighborLoader", ours), ("torch_geometric NeighborLoader", theirs)]:
            it = iter(loader)
            next(it)  # not timed: the first batch
            t0 = time.perf_counter()
            n = sum(1 for _ in it)
            runs[name].append(n / (time.perf_counter() - t0))
    for name, init in [("ferrograph.pyg.NeighborLoader", ours_init), ("torch_geometric NeighborLoader", theirs_init)]:
        b = statistics.median(runs[name])
        emit(measure="loader", loader=name, threads=threads, batches_per_s=b, seeds_per_s=b * 1024, runs=runs[name], init_s=init)


def gather_vs_index_select(g, seeds, threads, rounds):
    import torch

    torch.set_num_threads(threads)
    ferrograph.set_num_threads(threads)
    s = ferrograph.NeighborSampler(g, "rev_edge", [15, 10], seed=0)
    rows = [s.sample(seeds[i : i + 1024])["node"] for i in range(0, 20 * 1024, 1024)]
    view = g.feature("node", "feat")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = torch.from_numpy(view)  # the same mapped memory
    idx = [torch.from_numpy(r) for r in rows]
    ways = [("ferrograph.gather", lambda i: ferrograph.gather(g, "node", "feat", rows[i])),
            ("torch.index_select", lambda i: torch.index_select(x, 0, idx[i]))]
    for _, fn in ways:
        for i in range(len(rows)):
            fn(i)  # warm: the mapping's pages
    times = {name: [] for name, _ in ways}
    for _ in range(rounds):  # alternating, so that drift hits both alike
        for name, fn in ways:
            t0 = time.perf_counter()
            for i in range(len(rows)):
                fn(i)
            times[name].append(time.perf_counter() - t0)
    n = sum(len(r) for r in rows)
    for name, _ in ways:
        m = statistics.median(times[name])
        emit(measure="gather", how=name, threads=threads, rows=n, rows_per_s=n / m, gb_per_s=n * 512 / m / 1e9, runs=[n / x for x in times[name]])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/ferrograph-peers/data"))
    ap.add_argument("--bin", default="target/release/ferrograph")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=9,
                    help="alternations of Python and `ferrograph bench sample`, and of `ferrograph.gather` and `index_select`")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--only", default="sample,loader,gather")
    ap.add_argument("--tune-allocator", action="store_true",
                    help="call ferrograph.tune_allocator() first (the CLI tunes its allocator so; opt-in in Python)")
    args = ap.parse_args()
    if args.tune_allocator:
        ferrograph.tune_allocator()
    emit(measure="config", tune_allocator=args.tune_allocator)
    threads = [int(t) for t in args.threads.split(",")]
    snapshot = os.path.join(args.data, "ferrograph-train", "rmat-snapshot")
    g = ferrograph.open(snapshot)
    seeds = np.load(os.path.join(args.data, "rmat", "seeds.npy")).astype(np.int64)
    only = args.only.split(",")
    if "sample" in only:
        sampler_vs_cli(g, snapshot, seeds, threads, args.reps, args.bin, args.data, args.rounds)
    for t in threads:
        if "gather" in only:
            gather_vs_index_select(g, seeds, t, args.rounds)
        if "loader" in only:
            loaders(g, g.feature("node", "feat"), seeds, args.steps, t)


if __name__ == "__main__":
    main()
