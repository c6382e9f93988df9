"""ferrograph from Python: open a snapshot (memory-mapped), sample it, gather
features, and run graph-learn style queries; the work is done by the Rust
crates, without the GIL.

    import ferrograph
    g = ferrograph.open("out/cora")
    s = ferrograph.NeighborSampler(g, "cites", [15, 10], seed=0)
    out = s.sample([0, 1, 2])            # dict of int64 arrays: node, row, col, ...
    x = ferrograph.gather(g, "paper", "feat", out["node"])
    q = g.V("paper", "train").batch(64).shuffle(traverse=True).alias("seed") \\
         .outV("cites").sample(10).by("random").alias("hop1").values()
    for batch in ferrograph.Dataset(q, seed=0):
        batch["hop1"]["nodes"]

Errors: unknown names raise ``KeyError``, ids out of range ``IndexError``,
everything else ``ValueError``, with the CLI's messages.
"""

import json as _json
import os as _os
import sys as _sys

from . import _native
from ._native import (
    Graph,
    HeteroNeighborSampler,
    NeighborSampler,
    gather,
    generate_planted,
    get_num_threads,
    import_graph,
    negatives,
    random_walks,
    set_num_threads,
    tune_allocator,
)
from .loader import Loader
from .query import Query, OutOfRangeError, Dataset

__all__ = [
    "Graph",
    "NeighborSampler",
    "HeteroNeighborSampler",
    "Dataset",
    "Loader",
    "Query",
    "OutOfRangeError",
    "open",
    "import_graph",
    "generate_planted",
    "gather",
    "negatives",
    "random_walks",
    "schema",
    "set_num_threads",
    "get_num_threads",
    "tune_allocator",
]


def open(path):
    """Opens the snapshot in directory ``path`` (memory-mapped)."""
    _worker_threads()
    return _native.open(_os.fspath(path))


def schema(graph):
    """The graph's schema as a dict (node types, attributes, sets, edge types)."""
    return _json.loads(graph.schema_json())


def _worker_threads():
    """Inside a PyTorch DataLoader worker, sample on one thread unless
    ``set_num_threads`` said otherwise (workers are already parallel)."""
    torch = _sys.modules.get("torch")
    if torch is None or _os.environ.get("FERROGRAPH_THREADS"):
        return
    try:
        info = torch.utils.data.get_worker_info()
    except Exception:  # pragma: no cover - a torch without DataLoader
        return
    if info is not None and not getattr(_worker_threads, "done", False):
        set_num_threads(1)
        _worker_threads.done = True


if _os.environ.get("FERROGRAPH_THREADS"):
    set_num_threads(int(_os.environ["FERROGRAPH_THREADS"]))
