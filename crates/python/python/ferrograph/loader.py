"""A prefetching loader over a sampler: batches of seed nodes with their
sampled blocks and gathered feature rows, prepared ``prefetch`` batches
ahead on a background thread (every ferrograph call releases the GIL, so
sampling overlaps the consumer's own work, e.g. a PyTorch step)."""

import operator
import queue
import threading

import numpy as np

from . import _native


def _count(v, what):
    """``v`` as an int if it is one (a NumPy integer included); ``2.5`` is
    not taken as 2."""
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{what}: an integer is needed, got {type(v).__name__}") from None


class Loader:
    """Iterates one epoch of ``seeds`` (local indices) per ``for`` loop:
    shuffled with ``(seed, epoch)`` when ``shuffle``, in batches of
    ``batch_size``. Each batch is the sampler's dict plus, for each
    ``features`` entry ``(node_type, column)``, the gathered rows under
    ``column`` (rows of ``batch["node"]``). The batches of an epoch depend
    only on (seed, epoch), not on ``prefetch``."""

    def __init__(self, sampler, seeds, batch_size, shuffle=False, drop_last=False, features=(), prefetch=2, seed=0):
        batch_size, prefetch = _count(batch_size, "batch_size"), _count(prefetch, "prefetch")
        if batch_size < 1:
            raise ValueError("batch_size: at least 1")
        if prefetch < 0:
            raise ValueError("prefetch: at least 0")
        self.sampler = sampler
        a = np.asarray(seeds)
        if a.ndim != 1:
            raise ValueError(f"seeds: a 1-D array of node ids is needed, got shape {a.shape}")
        if a.size and a.dtype.kind not in "iu":
            # Cast, 1.5 would become node 1: refused, as every call refuses it.
            raise TypeError(f"seeds: node ids must be integers, got an array of {a.dtype}")
        self.seeds = np.ascontiguousarray(a, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.features = list(features)
        self.prefetch = int(prefetch)
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        n = self.seeds.size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def _batches(self, epoch):
        order = self.seeds
        if self.shuffle:
            order = order[np.random.default_rng([self.seed, epoch]).permutation(order.size)]
        for i in range(len(self)):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]

    def _make(self, b, epoch):
        out = self.sampler.sample(b, epoch=epoch)
        for node_type, column in self.features:
            out[column] = _native.gather(self.sampler.graph, node_type, column, out["node"])
        return out

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        if self.prefetch == 0:
            for b in self._batches(epoch):
                yield self._make(b, epoch)
            return
        q = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        end = object()

        def produce():
            try:
                for b in self._batches(epoch):
                    item = self._make(b, epoch)
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(end)
            except BaseException as e:  # handed to the consumer, raised there
                q.put(e)

        t = threading.Thread(target=produce, name="ferrograph-loader", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            t.join(timeout=10)
