"""PyG on ferrograph: a snapshot as PyG's remote backend (``FeatureStore`` +
``GraphStore``), ferrograph's sampler as a PyG ``BaseSampler``, and loaders
that return PyG's own ``NodeLoader`` / ``LinkLoader``, so a PyG model trains
unchanged and needs neither ``pyg-lib`` nor ``torch-sparse``:

    import ferrograph, ferrograph.pyg
    g = ferrograph.open("out/cora")
    loader = ferrograph.pyg.NeighborLoader(g, [10, 5], input_nodes="train",
                                           batch_size=128, shuffle=True)
    for batch in loader:          # a torch_geometric.data.Data
        out = model(batch.x, batch.edge_index)[:batch.batch_size]

Conventions (PyG's): seeds come first in input order, messages flow
``edge_index[0] -> edge_index[1]``, and hop ``h`` expands the nodes first
reached at hop ``h - 1``. The default relation is the reverse of the node
type's own edge type, i.e. a node's *incoming* edges, as PyG samples.
Randomness is keyed by (seed, epoch, the batch's input ids), so batches do
not depend on the number of workers. Node attributes only (no edge
features). Everything pickles by the snapshot's path.
"""

import hashlib
import math
import warnings

import numpy as np
import torch
from torch_geometric.data import EdgeAttr, FeatureStore as _FeatureStore, GraphStore as _GraphStore, TensorAttr
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import BaseSampler, EdgeSamplerInput, NegativeSampling, NodeSamplerInput, SamplerOutput

import ferrograph

__all__ = ["FeatureStore", "GraphStore", "NeighborSampler", "NeighborLoader", "LinkNeighborLoader"]


def _name(value, what):
    """``value`` if it is a name (or None); a ``TypeError`` naming ``what``
    otherwise (a tensor would fail later as "Boolean value of Tensor…")."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what}: a name (str) is needed, got {type(value).__name__}")
    return value


def _fanouts(num_neighbors):
    if isinstance(num_neighbors, dict):
        raise TypeError("num_neighbors: one list of fan-outs for the relation; for per-edge-type fan-outs "
                        "use ferrograph.HeteroNeighborSampler")
    if isinstance(num_neighbors, (str, bytes)) or not hasattr(num_neighbors, "__iter__"):
        raise TypeError(f"num_neighbors: a list of fan-outs is needed (a count per hop, -1 for all), "
                        f"got {type(num_neighbors).__name__}")
    return list(num_neighbors)


def _only_node_type(graph):
    types = graph.node_types
    if len(types) != 1:
        raise ValueError(f"the graph has node types {types}: name one with node_type=")
    return types[0]


def _default_relation(graph, node_type):
    schema = ferrograph.schema(graph)
    own = [e for e in schema["edge_types"] if e["src"] == node_type and e["dst"] == node_type]
    if len(own) != 1:
        names = [e["relation"] for e in own]
        raise ValueError(f"node type `{node_type}` has edge types {names}: name one with relation=")
    return own[0]["reverse"]


def _tensor(a):
    """A torch tensor over a NumPy array (no copy; read-only views are
    shared too, so torch must not write into them)."""
    if not a.flags.writeable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(a)
    return torch.from_numpy(a)


class FeatureStore(_FeatureStore):
    """Node columns of one node type as PyG tensor attributes: ``attrs``
    maps PyG names to ferrograph columns (default ``{"x": "feat", "y":
    "label"}``, each kept when the column exists). Read-only."""

    def __init__(self, graph, node_type=None, attrs=None):
        super().__init__()
        self.graph = graph
        self.node_type = _name(node_type, "node_type") or _only_node_type(graph)
        graph.num_nodes(self.node_type)  # raises KeyError with a suggestion
        schema = ferrograph.schema(graph)
        t = next(t for t in schema["node_types"] if t["name"] == self.node_type)
        have = {a["name"] for a in t["attributes"]}
        if attrs is None:
            attrs = {k: v for k, v in {"x": "feat", "y": "label"}.items() if v in have}
        if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
            raise TypeError(f"attrs: a dict of PyG attribute name -> column name is needed (as {{'x': 'feat'}}), "
                            f"got {type(attrs).__name__}")
        for name, column in attrs.items():
            if column not in have:
                graph.feature(self.node_type, column)  # raises KeyError with a suggestion
        self.attrs = dict(attrs)
        self._dense = {
            name: next(a for a in t["attributes"] if a["name"] == col)["kind"] == "float_vector" for name, col in self.attrs.items()
        }

    def _column(self, attr):
        name = attr.attr_name
        if name not in self.attrs:
            raise KeyError(f"no tensor attribute `{name}` (have {sorted(self.attrs)})")
        return self.attrs[name]

    def _get_tensor(self, attr):
        col = self._column(attr)
        index = attr.index
        full = index is None or (isinstance(index, slice) and index == slice(None))
        if full:
            return _tensor(self.graph.feature(self.node_type, col))
        idx = index.numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        if self._dense[attr.attr_name]:
            return torch.from_numpy(ferrograph.gather(self.graph, self.node_type, col, idx))
        view = self.graph.feature(self.node_type, col)
        return torch.from_numpy(np.ascontiguousarray(view[idx]))

    def _get_tensor_size(self, attr):
        return tuple(self.graph.feature(self.node_type, self._column(attr)).shape)

    def _put_tensor(self, tensor, attr):
        raise ValueError("a ferrograph snapshot is read-only")

    def _remove_tensor(self, attr):
        raise ValueError("a ferrograph snapshot is read-only")

    def get_all_tensor_attrs(self):
        return [TensorAttr(group_name=None, attr_name=name, index=None) for name in self.attrs]

    def __reduce__(self):
        return (FeatureStore, (self.graph, self.node_type, self.attrs))


class GraphStore(_GraphStore):
    """One relation's CSR as PyG's edge index (read-only; the loaders here
    never ask for it, so no edge list is built for sampling)."""

    def __init__(self, graph, relation, node_type=None):
        super().__init__()
        self.graph = graph
        self.relation = _name(relation, "relation")
        self.node_type = _name(node_type, "node_type") or _only_node_type(graph)

    def get_all_edge_attrs(self):
        n = self.graph.num_nodes(self.node_type)
        return [EdgeAttr(edge_type=None, layout="csr", is_sorted=True, size=(n, n))]

    def _get_edge_index(self, edge_attr):
        indptr, indices = self.graph.csr(self.relation)
        return torch.from_numpy(indptr.astype(np.int64)), torch.from_numpy(indices.astype(np.int64))

    def _put_edge_index(self, edge_index, edge_attr):
        raise ValueError("a ferrograph snapshot is read-only")

    def _remove_edge_index(self, edge_attr):
        raise ValueError("a ferrograph snapshot is read-only")

    def __reduce__(self):
        return (GraphStore, (self.graph, self.relation, self.node_type))


def _key(seed, epoch, ids):
    """A 64-bit key of (seed, epoch, the batch's input ids): the same in
    every process, whichever worker draws the batch."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.array([seed, epoch], dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


class NeighborSampler(BaseSampler):
    """ferrograph's neighbour sampler behind PyG's ``BaseSampler``:
    ``num_neighbors`` per hop (``-1`` at every hop for whole
    neighbourhoods), along ``relation`` (default: incoming edges)."""

    def __init__(self, graph, num_neighbors, relation=None, node_type=None, strategy="random_without_replacement", seed=0):
        self.graph = graph
        self.node_type = _name(node_type, "node_type") or _only_node_type(graph)
        graph.num_nodes(self.node_type)  # raises KeyError with a suggestion
        self.relation = _name(relation, "relation") or _default_relation(graph, self.node_type)
        self.num_neighbors = _fanouts(num_neighbors)
        self.strategy = strategy
        self.seed = seed
        self.epoch = 0
        self._s = ferrograph.NeighborSampler(graph, self.relation, self.num_neighbors, strategy, seed)
        self.num_nodes = graph.num_nodes(self.node_type)

    def set_epoch(self, epoch):
        """Mixes ``epoch`` into the randomness (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def _sample(self, seeds, ids):
        ferrograph._worker_threads()
        o = self._s.sample(seeds, epoch=_key(self.seed, self.epoch, ids))
        return o

    def sample_from_nodes(self, inputs: NodeSamplerInput, **kwargs) -> SamplerOutput:
        seeds = inputs.node.numpy()
        ids = inputs.input_id.numpy() if inputs.input_id is not None else seeds
        if np.unique(seeds).size != seeds.size:
            raise ValueError("a batch repeats seed nodes; PyG reads the first batch_size nodes as the seeds")
        o = self._sample(seeds, ids)
        return SamplerOutput(
            node=torch.from_numpy(o["node"]),
            row=torch.from_numpy(o["row"]),
            col=torch.from_numpy(o["col"]),
            edge=None,
            batch=None,
            num_sampled_nodes=o["num_sampled_nodes"],
            num_sampled_edges=o["num_sampled_edges"],
            metadata=(inputs.input_id, inputs.time),
        )

    def sample_from_edges(self, inputs: EdgeSamplerInput, neg_sampling=None) -> SamplerOutput:
        if inputs.time is not None:
            raise ValueError("temporal link sampling is not supported by ferrograph.pyg")
        src = inputs.row.numpy().astype(np.int64)
        dst = inputs.col.numpy().astype(np.int64)
        ids = inputs.input_id.numpy() if inputs.input_id is not None else np.concatenate([src, dst])
        key = _key(self.seed, self.epoch, ids)
        rng = np.random.default_rng(key)
        num_pos = src.size
        edge_label = inputs.label
        neg = NegativeSampling.cast(neg_sampling) if neg_sampling is not None else None
        if neg is not None and neg.is_binary():
            num_neg = math.ceil(num_pos * neg.amount)
            src = np.concatenate([src, rng.integers(0, self.num_nodes, num_neg)])
            dst = np.concatenate([dst, rng.integers(0, self.num_nodes, num_neg)])
            if edge_label is None:
                edge_label = torch.ones(num_pos)
            edge_label = torch.cat([edge_label, edge_label.new_zeros((num_neg,) + edge_label.size()[1:])])
        elif neg is not None and neg.is_triplet():
            if edge_label is not None:
                raise ValueError("triplet negative sampling takes no edge labels")
            amount = math.ceil(neg.amount)
            dst = np.concatenate([dst, rng.integers(0, self.num_nodes, num_pos * amount)])
        seed, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        o = self._sample(seed, ids)
        inverse = torch.from_numpy(inverse.astype(np.int64))
        if neg is None or neg.is_binary():
            metadata = (inputs.input_id, inverse.view(2, -1), edge_label, None)
        else:
            dst_neg = inverse[2 * num_pos :].view(-1, num_pos).t().reshape(num_pos, -1).squeeze(-1)
            metadata = (inputs.input_id, inverse[:num_pos], inverse[num_pos : 2 * num_pos], dst_neg, None)
        return SamplerOutput(
            node=torch.from_numpy(o["node"]),
            row=torch.from_numpy(o["row"]),
            col=torch.from_numpy(o["col"]),
            edge=None,
            batch=None,
            num_sampled_nodes=o["num_sampled_nodes"],
            num_sampled_edges=o["num_sampled_edges"],
            metadata=metadata,
        )

    def __reduce__(self):
        return (_restore_sampler, (self.graph, self.num_neighbors, self.relation, self.node_type, self.strategy, self.seed, self.epoch))


def _restore_sampler(graph, num_neighbors, relation, node_type, strategy, seed, epoch):
    s = NeighborSampler(graph, num_neighbors, relation, node_type, strategy, seed)
    s.set_epoch(epoch)
    return s


def _input_nodes(graph, node_type, input_nodes):
    if input_nodes is None:
        return torch.arange(graph.num_nodes(node_type))
    if isinstance(input_nodes, str):
        return torch.from_numpy(graph.node_set(node_type, input_nodes).astype(np.int64))
    if isinstance(input_nodes, torch.Tensor):
        return input_nodes
    return torch.as_tensor(np.asarray(input_nodes), dtype=torch.long)


def NeighborLoader(graph, num_neighbors, input_nodes=None, relation=None, node_type=None, attrs=None,
                   strategy="random_without_replacement", seed=0, **kwargs):
    """PyG's ``NodeLoader`` over ferrograph: batches of ``input_nodes`` (a
    node set name such as ``"train"``, ids, or all nodes) with their
    sampled neighbourhoods and node attributes (``x``, ``y`` by default).
    ``batch_size``, ``shuffle``, ``num_workers``… go to PyG's loader."""
    node_type = _name(node_type, "node_type") or _only_node_type(graph)
    sampler = NeighborSampler(graph, num_neighbors, relation, node_type, strategy, seed)
    fs = FeatureStore(graph, node_type, attrs)
    gs = GraphStore(graph, sampler.relation, node_type)
    return NodeLoader(data=(fs, gs), node_sampler=sampler, input_nodes=_input_nodes(graph, node_type, input_nodes), **kwargs)


def LinkNeighborLoader(graph, num_neighbors, edge_label_index=None, edge_label=None, relation=None, node_type=None,
                       attrs=None, neg_sampling=None, neg_sampling_ratio=None, strategy="random_without_replacement", seed=0, **kwargs):
    """PyG's ``LinkLoader`` over ferrograph: batches of the edges
    ``edge_label_index`` (default: every edge of the node type's own
    relation) with binary or triplet negatives (``neg_sampling``) and the
    sampled neighbourhoods of their endpoints."""
    node_type = _name(node_type, "node_type") or _only_node_type(graph)
    sampler = NeighborSampler(graph, num_neighbors, relation, node_type, strategy, seed)
    if edge_label_index is None:
        schema = ferrograph.schema(graph)
        rel = next(e["relation"] for e in schema["edge_types"] if e["reverse"] == sampler.relation or e["relation"] == sampler.relation)
        indptr, indices = graph.csr(rel)
        src = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr.astype(np.int64)))
        edge_label_index = torch.stack([torch.from_numpy(src), torch.from_numpy(indices.astype(np.int64))])
    if neg_sampling is None and neg_sampling_ratio is not None:
        neg_sampling = NegativeSampling("binary", neg_sampling_ratio)
    fs = FeatureStore(graph, node_type, attrs)
    gs = GraphStore(graph, sampler.relation, node_type)
    if isinstance(edge_label_index, torch.Tensor):
        edge_label_index = (None, edge_label_index)  # PyG's form for a remote backend: (edge type, index)
    return LinkLoader(data=(fs, gs), link_sampler=sampler, edge_label_index=edge_label_index, edge_label=edge_label,
                      neg_sampling=neg_sampling, **kwargs)
