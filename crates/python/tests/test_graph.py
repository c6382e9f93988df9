"""Opening a snapshot, its arrays as zero-copy NumPy views, ids, pickling."""

import pickle
import re

import numpy as np
import pytest

import ferrograph


def test_open_reports_the_schema(cora):
    assert cora.node_types == ["paper"]
    assert cora.edge_types == [("paper", "cites", "paper")]
    assert cora.num_nodes("paper") == 2708
    s = ferrograph.schema(cora)
    names = [a["name"] for a in s["node_types"][0]["attributes"]]
    assert "feat" in names and "label" in names
    assert set(s["node_types"][0]["sets"]) >= {"train", "val", "test"}
    assert len(cora.node_set("paper", "train")) == 140
    assert "paper: 2708" in repr(cora)


def _mapping_of(path_part):
    """Address ranges of this process's mappings of files whose path contains `path_part`."""
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and path_part in fields[5]:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((lo, hi))
    return ranges


def test_feature_view_is_read_only_zero_copy_and_keeps_the_graph_alive(cora_dir):
    g = ferrograph.open(cora_dir)
    x = g.feature("paper", "feat")
    assert x.shape == (2708, 1433) and x.dtype == np.float32
    assert not x.flags.writeable
    with pytest.raises(ValueError):
        x[0, 0] = 1.0
    assert x.base is g
    ptr = x.__array_interface__["data"][0]
    ranges = _mapping_of(str(cora_dir))
    assert ranges, "the snapshot is not mapped"
    assert any(lo <= ptr < hi and ptr + x.nbytes <= hi for lo, hi in ranges), "the view is not inside the snapshot's mapping"
    # The same bytes as a gather copies.
    np.testing.assert_array_equal(ferrograph.gather(g, "paper", "feat", [5, 0, 7]), x[[5, 0, 7]])
    total = float(x[:10].sum())
    del g
    assert float(x[:10].sum()) == total  # the view keeps the mapping alive


def test_csr_and_sets_are_views(cora):
    indptr, indices = cora.csr("cites")
    assert indptr.dtype == np.uint64 and indices.dtype == np.uint32
    assert len(indptr) == cora.num_nodes("paper") + 1 and int(indptr[-1]) == len(indices) == cora.num_edges("cites")
    assert not indptr.flags.writeable and not indices.flags.writeable
    assert indptr.base is cora and indices.base is cora
    rin, _ = cora.csr("cited_by")
    assert int(rin[-1]) == len(indices)
    train = cora.node_set("paper", "train")
    assert train.dtype == np.uint32 and not train.flags.writeable and np.all(np.diff(train.astype(np.int64)) > 0)


def test_ids_round_trip(cora):
    ext = cora.external_ids("paper", [0, 1, 2707])
    assert ext.dtype == np.int64
    np.testing.assert_array_equal(cora.local_ids("paper", ext), [0, 1, 2707])
    with pytest.raises(KeyError, match="no node with id -5"):
        cora.local_ids("paper", [-5])
    with pytest.raises(IndexError, match="node 2708 is outside 0..2708"):
        cora.external_ids("paper", [2708])


def test_objects_pickle_by_path(planted, planted_dir):
    g2 = pickle.loads(pickle.dumps(planted))
    assert g2.path == planted.path and g2.num_nodes("node") == planted.num_nodes("node")
    s = ferrograph.NeighborSampler(planted, "link", [5, 3], seed=4)
    s2 = pickle.loads(pickle.dumps(s))
    a, b = s.sample([1, 2, 3]), s2.sample([1, 2, 3])
    for k in ("node", "row", "col"):
        np.testing.assert_array_equal(a[k], b[k])
    ds = ferrograph.Dataset(planted, 'g.V("node").batch(16).shuffle().outV("link").sample(4).by("random").values()', seed=2)
    ds2 = pickle.loads(pickle.dumps(ds._ds))
    np.testing.assert_array_equal(next(iter(ds))["step1"]["nodes"], next(ds2)["step1"]["nodes"])


def test_gather_into_out_and_checks(planted):
    nodes = np.array([3, 1, 4, 1, 5])
    out = np.empty((5, 32), dtype=np.float32)
    r = ferrograph.gather(planted, "node", "feat", nodes, out=out)
    assert r is out
    np.testing.assert_array_equal(out, planted.feature("node", "feat")[nodes])
    with pytest.raises(ValueError, match=re.escape("out: shape [4, 32], the rows need (5, 32)")):
        ferrograph.gather(planted, "node", "feat", nodes, out=np.empty((4, 32), dtype=np.float32))
    lab = ferrograph.gather(planted, "node", "label", nodes)
    assert lab.shape == (5, 1)


def test_returned_memory_is_recycled_only_when_no_array_holds_it(planted):
    """Results live in memory that comes back to ferrograph when their last
    array dies (so later calls fault in no fresh pages); memory still held
    is never handed out again."""
    ferrograph.set_num_threads(1)
    s = ferrograph.NeighborSampler(planted, "link", [10, 5], seed=3)
    feat = planted.feature("node", "feat")
    nodes = np.arange(0, 5000, 3)
    held = s.sample(nodes[:200], epoch=1)
    kept = {k: held[k].copy() for k in ("node", "row", "col", "seed_index")}
    rows = ferrograph.gather(planted, "node", "feat", nodes)
    # Writable, so torch can take them without a copy; writing is safe.
    assert held["node"].flags.writeable and rows.flags.writeable and rows.flags.c_contiguous
    rows_copy = rows.copy()
    for i in range(30):
        o = s.sample(nodes[i * 10 : i * 10 + 200], epoch=i)
        for k in kept:  # scribbling on a later result touches nothing held
            o[k][:] = -1
        ferrograph.gather(planted, "node", "feat", nodes[::-1])[:] = np.nan
    for k, v in kept.items():
        np.testing.assert_array_equal(held[k], v)
    np.testing.assert_array_equal(rows, rows_copy)
    np.testing.assert_array_equal(rows, feat[nodes])
    # Freed memory is reused: a gather of the same size (larger than any
    # block above) lands where the last one was.
    every = np.arange(5000)
    a = ferrograph.gather(planted, "node", "feat", every)
    p = a.ctypes.data
    del a
    b = ferrograph.gather(planted, "node", "feat", every[::-1])
    assert b.ctypes.data == p
    np.testing.assert_array_equal(b, feat[every[::-1]])


def test_strided_id_arrays_are_accepted(planted):
    """A NumPy view with a step (``a[::-1]``, a column of a 2-D array) is as
    good an id list as a contiguous one."""
    nodes = np.arange(0, 5000, 3)
    feat = planted.feature("node", "feat")
    np.testing.assert_array_equal(ferrograph.gather(planted, "node", "feat", nodes[::-2]), feat[nodes[::-2]])
    pairs = np.stack([nodes, nodes + 1], axis=1)
    s = ferrograph.NeighborSampler(planted, "link", [4], seed=1)
    a, b = s.sample(pairs[:50, 1]), s.sample(np.ascontiguousarray(pairs[:50, 1]))
    np.testing.assert_array_equal(a["node"], b["node"])
    np.testing.assert_array_equal(planted.local_ids("node", planted.external_ids("node", nodes[::-1])), nodes[::-1])
