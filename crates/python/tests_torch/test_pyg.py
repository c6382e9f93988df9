"""ferrograph.pyg against PyG's own loaders (needs torch and
torch_geometric; PyG's own NeighborLoader also needs pyg-lib or
torch-sparse). Run by crates/python/run-torch-tests.sh."""

import numpy as np
import pytest
import torch

import ferrograph
import ferrograph.pyg

torch_geometric = pytest.importorskip("torch_geometric")
from torch_geometric.data import Data  # noqa: E402
from torch_geometric.loader import NeighborLoader as PygNeighborLoader  # noqa: E402


def cora_data(g):
    """The same graph as a PyG Data: edges j -> i of `cites`."""
    indptr, indices = g.csr("cites")
    src = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr.astype(np.int64)))
    return Data(
        x=torch.from_numpy(np.array(g.feature("paper", "feat"))),
        y=torch.from_numpy(np.array(g.feature("paper", "label"))),
        edge_index=torch.stack([torch.from_numpy(src.astype(np.int64)), torch.from_numpy(indices.astype(np.int64))]),
        num_nodes=g.num_nodes("paper"),
    )


def hops_of(b):
    """Per-hop node and edge counts of a PyG batch (its torch-sparse path
    does not report them): hop h + 1 holds the new in-neighbours of hop h,
    and its edges are those into hop h."""
    dst = b.edge_index[1].tolist()
    src = b.edge_index[0].tolist()
    frontier = set(range(b.batch_size))
    seen = set(frontier)
    nodes, edges = [b.batch_size], []
    for _ in range(2):
        e = [(s, d) for s, d in zip(src, dst) if d in frontier]
        new = {s for s, _ in e} - seen
        edges.append(len(e))
        nodes.append(len(new))
        seen |= new
        frontier = new
    return nodes, edges


def test_full_neighbourhoods_match_pygs_own_loader(cora):
    data = cora_data(cora)
    train = torch.from_numpy(cora.node_set("paper", "train").astype(np.int64))
    ours = ferrograph.pyg.NeighborLoader(cora, [-1, -1], input_nodes="train", batch_size=20)
    try:
        theirs = PygNeighborLoader(data, num_neighbors=[-1, -1], input_nodes=train, batch_size=20)
        next(iter(theirs))
    except ImportError as e:  # PyG >= 2.7 without pyg-lib or torch-sparse cannot sample
        pytest.skip(f"PyG's own loader cannot sample here: {e}")
    n = 0
    for a, b in zip(ours, theirs):
        n += 1
        assert a.batch_size == b.batch_size
        assert torch.equal(a.n_id[: a.batch_size], b.n_id[: b.batch_size]), "seeds first, in input order"
        assert set(a.n_id.tolist()) == set(b.n_id.tolist())
        ea = set(zip(a.n_id[a.edge_index[0]].tolist(), a.n_id[a.edge_index[1]].tolist()))
        eb = set(zip(b.n_id[b.edge_index[0]].tolist(), b.n_id[b.edge_index[1]].tolist()))
        assert ea == eb
        if "num_sampled_nodes" not in b:
            b.num_sampled_nodes, b.num_sampled_edges = hops_of(b)
        assert list(a.num_sampled_nodes) == list(b.num_sampled_nodes)
        assert list(a.num_sampled_edges) == list(b.num_sampled_edges)
        assert torch.equal(a.x, data.x[a.n_id]) and torch.equal(a.y, data.y[a.n_id])
    assert n == len(ours) == len(theirs) == 7


def test_batch_arrays_become_tensors_without_a_copy(cora):
    s = ferrograph.NeighborSampler(cora, "cites", [5, 5], seed=0)
    o = s.sample(np.arange(64))
    for k in ("node", "row", "col"):
        t = torch.from_numpy(o[k])
        assert t.data_ptr() == o[k].__array_interface__["data"][0] and t.dtype == torch.int64
    x = ferrograph.gather(cora, "paper", "feat", o["node"])
    assert torch.from_numpy(x).data_ptr() == x.__array_interface__["data"][0]


@pytest.mark.parametrize("context", ["fork", "forkserver", "spawn"])
def test_batches_do_not_depend_on_workers(cora, context):
    def batches(workers):
        torch.manual_seed(0)
        extra = dict(multiprocessing_context=context, timeout=60) if workers else {}
        loader = ferrograph.pyg.NeighborLoader(cora, [10, 5], input_nodes="train", batch_size=32, shuffle=True,
                                               num_workers=workers, seed=3, **extra)
        return [(b.n_id.tolist(), b.edge_index.tolist(), b.x.sum().item()) for b in loader]

    # The parent samples on several threads first, so a forked worker
    # inherits a started pool.
    ferrograph.set_num_threads(2)
    inline = batches(0)
    assert batches(2) == inline


def test_link_loader_binary_and_triplet(cora):
    loader = ferrograph.pyg.LinkNeighborLoader(cora, [5, 5], batch_size=64, neg_sampling="binary", shuffle=True)
    b = next(iter(loader))
    assert b.edge_label_index.shape == (2, 128) and b.edge_label.sum() == 64
    pos = b.n_id[b.edge_label_index[:, :64]]
    indptr, indices = cora.csr("cites")
    for u, v in pos.t().tolist():
        assert v in indices[indptr[u]:indptr[u + 1]]
    loader = ferrograph.pyg.LinkNeighborLoader(cora, [5], batch_size=32, neg_sampling=dict(mode="triplet", amount=3))
    b = next(iter(loader))
    assert b.src_index.shape == (32,) and b.dst_neg_index.shape == (32, 3)


def test_bad_arguments_name_the_parameter(cora):
    # A tensor, list or int where a name or list belongs fails at the call,
    # naming the parameter (not "Boolean value of Tensor…" mid-iteration).
    cases = [
        (dict(num_neighbors=5), "num_neighbors: a list of fan-outs is needed"),
        (dict(num_neighbors={"cites": [5]}), "num_neighbors: one list of fan-outs"),
        (dict(num_neighbors=[5], relation=torch.tensor([1, 2])), "relation: a name"),
        (dict(num_neighbors=[5], node_type=3), "node_type: a name"),
        (dict(num_neighbors=[5], attrs=["feat"]), "attrs: a dict"),
    ]
    for kwargs, message in cases:
        with pytest.raises(TypeError, match=message):
            ferrograph.pyg.NeighborLoader(cora, **kwargs)
    with pytest.raises(KeyError, match="did you mean"):
        ferrograph.pyg.NeighborLoader(cora, [5], node_type="papr")
