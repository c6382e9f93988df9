"""graph-learn's query vocabulary, as a builder that writes the text form
the Rust parser reads (so the Python and CLI forms are one language):

    g.V("paper").batch(512).shuffle(traverse=True).alias("seed")
     .outV("cites").sample(15).by("random").alias("hop1").values()
"""

from . import _native


class OutOfRangeError(StopIteration):
    """The end of an epoch (graph-learn's ``gl.errors.OutOfRangeError``)."""


def _quote(s):
    s = str(s)
    if '"' in s:
        if "'" in s:
            raise ValueError(f"a name may not hold both quote characters: {s!r}")
        return "'" + s + "'"
    return '"' + s + '"'


def _arg(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (int, float)):
        return repr(v)
    return _quote(v)


class Query:
    """A query under construction; ``str(q)`` is its text form."""

    def __init__(self, graph, text):
        self.graph = graph
        self.text = text

    def _step(self, name, *args, **kwargs):
        parts = [_arg(a) for a in args if a is not None]
        parts += [f"{k}={_arg(v)}" for k, v in kwargs.items() if v is not None]
        return Query(self.graph, f"{self.text}.{name}({', '.join(parts)})")

    def batch(self, n):
        return self._step("batch", int(n))

    def shuffle(self, traverse=None):
        return self._step("shuffle", traverse=None if traverse is None else bool(traverse))

    def alias(self, name):
        return self._step("alias", name)

    def outV(self, relation=None):
        return self._step("outV", relation)

    def inV(self, relation=None):
        return self._step("inV", relation)

    def outE(self, relation):
        return self._step("outE", relation)

    def inE(self, relation):
        return self._step("inE", relation)

    def outNeg(self, relation):
        return self._step("outNeg", relation)

    def inNeg(self, relation):
        return self._step("inNeg", relation)

    def sample(self, k=None):
        return self._step("sample", None if k is None else int(k))

    def by(self, strategy, *extra):
        return self._step("by", strategy, *extra)

    def strict(self):
        return self._step("strict")

    def where(self, attribute):
        return self._step("where", attribute)

    def subgraph(self, relation, hops):
        return self._step("subgraph", relation, int(hops))

    def random_walk(self, relation, length, p=None, q=None):
        if (p is None) != (q is None):
            raise ValueError("random_walk: give both p and q, or neither")
        return self._step("random_walk", relation, int(length), p, q)

    def values(self, func=None):
        if func is not None:
            raise ValueError("values(func): apply the function to the batches the Dataset yields")
        return self._step("values")

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"Query({self.text})"


def start(graph, source, args, kwargs):
    """``g.V(...)`` / ``g.E(...)`` / ``g.SubGraph(...)`` on a graph."""
    if kwargs:
        raise ValueError(f"g.{source}(...): keyword arguments {sorted(kwargs)} are not supported")
    return Query(graph, f"g.{source}({', '.join(_arg(a) for a in args)})")


class Dataset:
    """Batches of a query, one dict per batch (``{alias: {"type", "nodes",
    "ids", "offsets", ...}}``). Iterating ends with the epoch (the next
    iteration starts the next epoch), or never for
    ``shuffle(traverse=False)``; ``next()`` raises ``OutOfRangeError`` at
    the end of an epoch, as graph-learn's does.

    ``Dataset(query, seed=0)`` for a built ``Query``, or
    ``Dataset(graph, "g.V(...)...", seed=0)`` for the text form.
    """

    def __init__(self, query, text=None, seed=0, epoch=0, max_batch=None, max_nodes=None):
        if text is None:
            if not isinstance(query, Query):
                raise TypeError("Dataset(query) takes a Query (g.V(...)...values()) or (graph, text)")
            graph, text = query.graph, query.text
        else:
            graph = query
        self._ds = _native.Dataset(graph, str(text), seed, epoch, max_batch, max_nodes)
        self.text = str(text)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._ds)

    def next(self):
        try:
            return next(self._ds)
        except StopIteration:
            raise OutOfRangeError("the epoch is over") from None

    def __len__(self):
        return len(self._ds)

    def batch(self, index, epoch=None):
        """Batch ``index`` of ``epoch`` (default: the current one) alone."""
        return self._ds.batch(index, epoch)

    def set_epoch(self, epoch):
        self._ds.set_epoch(epoch)

    @property
    def epoch(self):
        return self._ds.epoch

    @property
    def endless(self):
        return self._ds.endless

    @property
    def graph(self):
        return self._ds.graph
