"""Python results against the Rust CLI's for the same seed: neighbour
sampling (`ferrograph blocks`), and the query language (`ferrograph
sample --json`), which also covers negatives, walks, subgraphs and edges;
graph-learn's documented queries, unchanged."""

import numpy as np
import pytest

import ferrograph


@pytest.mark.parametrize(
    "strategy,fanouts",
    [("random", [10, 5]), ("random_without_replacement", [15, 10]), ("full", [-1, -1]), ("edge_weight", [4, 3]), ("topk", [3, 2])],
)
def test_neighbor_sampler_equals_the_cli(gl, gl_dir, cli, strategy, fanouts):
    rel = "i2i"
    seeds = [5, 17, 3, 17, 250, 0]
    for epoch in (0, 3):
        s = ferrograph.NeighborSampler(gl, rel, fanouts, strategy=strategy, seed=11)
        py = s.sample(np.array(seeds), epoch=epoch)
        cli_fanouts = ",".join("0" if k == -1 else str(k) for k in fanouts)
        cli_strategy = "full" if fanouts[0] == -1 else strategy
        rs = cli.json("blocks", gl_dir, "--relation", rel, "--fanouts", cli_fanouts, "--strategy", cli_strategy,
                      "--nodes", ",".join(map(str, seeds)), "--seed", 11, "--epoch", epoch)
        for k in ("node", "row", "col"):
            assert py[k].dtype == np.int64
            np.testing.assert_array_equal(py[k], rs[k], err_msg=f"{k} differs for {strategy}")
        assert py["num_sampled_nodes"] == rs["num_sampled_nodes"]
        assert py["num_sampled_edges"] == rs["num_sampled_edges"]
        # Seeds come first, in input order (duplicates merged).
        assert list(py["node"][:5]) == [5, 17, 3, 250, 0]


def test_sample_is_the_same_on_any_thread_count(planted):
    s = ferrograph.NeighborSampler(planted, "link", [10, 10], seed=5)
    seeds = np.arange(0, 5000, 7)
    ferrograph.set_num_threads(1)
    a = s.sample(seeds, epoch=2)
    ferrograph.set_num_threads(2)
    b = s.sample(seeds, epoch=2)
    for k in ("node", "row", "col"):
        np.testing.assert_array_equal(a[k], b[k])
    c = s.sample(seeds, epoch=3)
    assert not np.array_equal(a["row"], c["row"]) or not np.array_equal(a["node"], c["node"])


def _compare(py, js):
    assert list(py) == [a["alias"] for a in js["aliases"]]
    for a in js["aliases"]:
        p = py[a["alias"]]
        assert p["type"] == a["type"]
        np.testing.assert_array_equal(np.asarray(p["ids"]), np.asarray(a["ids"], dtype=np.asarray(p["ids"]).dtype))
        for k in ("offsets", "edge_ids"):
            assert (k in p) == (k in a), k
            if k in a:
                np.testing.assert_array_equal(p[k], a[k])
        if "edges" in a:
            np.testing.assert_array_equal(p["edges"][0], a["edges"][0])
            np.testing.assert_array_equal(p["edges"][1], a["edges"][1])


CORA_QUERIES = [
    'g.V("paper").batch(32).shuffle(traverse=True).alias("seed").outV("cites").sample(10).by("random").alias("hop1").outV("cites").sample(5).by("random").alias("hop2").values()',
    'g.V("paper", "train").batch(16).alias("s").inV("cites").sample(4).by("random_without_replacement").alias("h").values()',
    'g.V("paper").batch(8).shuffle().outV("cites").sample().by("full").alias("all").values()',
    'g.V("paper").batch(20).alias("u").outNeg("cites").sample(5).by("in_degree").alias("neg").values()',
    'g.V("paper").batch(20).alias("u").outNeg("cites").sample(3).by("random").strict().alias("neg").values()',
    'g.V("paper").batch(10).shuffle(traverse=True).alias("start").random_walk("cites", 6, 0.5, 2.0).alias("walk").values()',
    'g.V("paper").batch(6).alias("c").subgraph("cites", 2).alias("sub").values()',
    'g.E("cites").batch(16).shuffle(traverse=True).alias("e").outV().alias("src").outNeg("cites").sample(2).by("in_degree").alias("neg").values()',
    'g.V("paper").batch(12).alias("a").outE("cites").sample(3).by("random").alias("e").inV().alias("b").values()',
]


@pytest.mark.parametrize("text", CORA_QUERIES)
def test_query_batches_equal_the_cli(cora, cora_dir, cli, text):
    ds = ferrograph.Dataset(cora, text, seed=9)
    assert len(ds) > 1
    for epoch, index in [(0, 0), (0, 1), (2, len(ds) - 1)]:
        py = ds.batch(index, epoch=epoch)
        js = cli.json("sample", cora_dir, text, "--seed", 9, "--epoch", epoch, "--batch", index, "--json")
        _compare(py, js)


def test_dataset_iterates_an_epoch_then_the_next(planted):
    ds = ferrograph.Dataset(planted, 'g.V("node", "val").batch(64).shuffle(traverse=True).alias("s").values()', seed=1)
    n = planted.node_set("node", "val").size
    first = [b["s"]["nodes"] for b in ds]
    assert len(first) == len(ds) == -(-n // 64)
    seen = np.concatenate(first)
    assert sorted(seen) == sorted(planted.node_set("node", "val").astype(np.int64))
    second = [b["s"]["nodes"] for b in ds]  # the next epoch, reshuffled
    assert len(second) == len(first) and not np.array_equal(np.concatenate(second), seen)
    with pytest.raises(ferrograph.OutOfRangeError):
        while True:
            ds.next()


def test_endless_query_goes_on_past_the_epoch(planted):
    ds = ferrograph.Dataset(planted, 'g.V("node", "val").batch(256).shuffle(traverse=False).alias("s").values()', seed=1)
    assert ds.endless
    per = len(ds)
    got = [next(ds) for _ in range(3 * per + 1)]
    assert len(got) == 3 * per + 1 and ds.epoch == 3


# graph-learn's documentation (docs/en/gl/graph/gsl.md) and examples and
# tests, as written there (single quotes and keyword arguments included);
# where the docs show a fragment, `.values()` closes it as their Dataset
# examples do, and branches (`each`, or two steps from one alias) are
# written as one path.
GRAPH_LEARN_QUERIES = [
    'g.V("user").batch(64).outV("click").sample(10).by("edge_weight").values()',
    "g.V(\"user\").batch(64).alias('seed').values()",
    "g.V(\"user\").batch(64).shuffle().alias('seed').values()",
    "g.V(\"user\").batch(64).shuffle(traverse=True).alias('seed').values()",
    "g.V(\"user\").batch(64).alias('src').outV(\"u2i\").sample(10).by(\"edge_weight\").alias('hop1').outV(\"i2i\").sample(15).by(\"random\").alias('hop2').values()",
    "g.E(\"u2i\").batch(64).alias('edge').outV().alias('src').outNeg(\"u2i\").sample(10).by(\"random\").alias('neg').values()",
    "g.V(\"user\").batch(64).alias('src').outV(\"u2i\").sample(10).by(\"random\").alias('hop1').inV(\"u2i\").sample(5).by(\"random\").alias('hop2').values()",
    'g.V("user").batch(64).alias("u").outV(\'buy\').sample(10).by("edge_weight").alias("1hop").values()',
    'g.V("user").batch(64).alias("u").outNeg(\'buy\').sample(10).by("random").alias("1hop").values()',
    'g.V("user").batch(32).shuffle(traverse=True).alias("src").outV("buy").sample(5).by("edge_weight").alias("hop1").inE("buy").sample(2).by("random").alias("hop1-hop2").inV().alias("hop2").values()',
    'g.E("buy").batch(32).shuffle(traverse=True).alias("edges").outV().alias("src").outNeg("buy").sample(2).by("in_degree").alias("neg").values()',
    'g.E("buy").batch(3).shuffle(traverse=True).alias("edges").inV().alias("dst").inE("buy").sample(200).by("full").alias("dst_hop1_edges").inV().alias("dst_hop1").values()',
    'g.E("u2i").batch(512).shuffle().alias("edges").values()',
    "g.V(\"item\").batch(64).alias('train').outV(\"i-i\").sample(10).by(\"random\").alias('train_hop0').outV(\"i-i\").sample(5).by(\"random\").alias('train_hop1').values()",
    "g.E(\"interaction\").batch(2).alias(\"event\").outV().alias('src').outE(\"interaction\").sample(3).by(\"topk\").alias(\"src_nbr\").values()",
]


@pytest.mark.parametrize("text", GRAPH_LEARN_QUERIES)
def test_graph_learn_queries_run_unchanged_in_python_and_the_cli(gl, gl_dir, cli, text):
    ds = ferrograph.Dataset(gl, text, seed=3)
    b = next(iter(ds))
    assert b, "no aliases"
    for alias in b.values():
        assert alias["nodes"].dtype == np.int64
    js = cli.json("sample", gl_dir, text, "--seed", 3, "--json")
    _compare(b, js)


def test_the_python_builder_writes_the_same_query(gl):
    q = (gl.V("user").batch(32).shuffle(traverse=True).alias("src")
         .outV("buy").sample(5).by("edge_weight").alias("hop1")
         .inE("buy").sample(2).by("random").alias("hop1-hop2")
         .inV().alias("hop2").values())
    assert str(q) == GRAPH_LEARN_QUERIES[9]
    a = ferrograph.Dataset(q, seed=5).batch(0)
    b = ferrograph.Dataset(gl, GRAPH_LEARN_QUERIES[9], seed=5).batch(0)
    for k in a:
        np.testing.assert_array_equal(a[k]["nodes"], b[k]["nodes"])
    e = gl.E("u2i").batch(8).alias("e").outV().alias("src").outNeg("u2i").sample(3).by("in_degree").alias("neg").values()
    assert str(e) == 'g.E("u2i").batch(8).alias("e").outV().alias("src").outNeg("u2i").sample(3).by("in_degree").alias("neg").values()'


def test_walks_and_negatives_are_valid_and_seeded(cora):
    indptr, indices = cora.csr("cites")
    starts = np.arange(0, 2708, 13)
    w = ferrograph.random_walks(cora, "cites", starts, 8, p=0.5, q=2.0, seed=4)
    assert w.shape == (len(starts), 9) and np.array_equal(w[:, 0], starts)
    for walk in w:
        for a, b in zip(walk[:-1], walk[1:]):
            if b < 0:
                break
            assert b in indices[indptr[a]:indptr[a + 1]]
    np.testing.assert_array_equal(w, ferrograph.random_walks(cora, "cites", starts, 8, p=0.5, q=2.0, seed=4))
    n = ferrograph.negatives(cora, "cites", starts, 4, strict=True, seed=1)
    assert n.shape == (len(starts), 4)
    for s, row in zip(starts, n):
        assert not set(row) & set(indices[indptr[s]:indptr[s + 1]].tolist())


def test_prefetching_loader_gives_the_same_batches_as_inline(planted):
    s = ferrograph.NeighborSampler(planted, "link", [5, 5], seed=8)
    seeds = planted.node_set("node", "train")
    runs = []
    for prefetch in (0, 3):
        loader = ferrograph.Loader(s, seeds, 64, shuffle=True, features=[("node", "feat")], prefetch=prefetch, seed=2)
        epochs = []
        for _ in range(2):
            epochs.append([(b["node"], b["feat"]) for b in loader])
        runs.append(epochs)
    assert len(runs[0][0]) == len(ferrograph.Loader(s, seeds, 64)) == -(-seeds.size // 64)
    for (a, b) in zip(runs[0], runs[1]):
        for (na, xa), (nb, xb) in zip(a, b):
            np.testing.assert_array_equal(na, nb)
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(xa, planted.feature("node", "feat")[na])
    assert not np.array_equal(runs[0][0][0][0], runs[0][1][0][0]), "each epoch is reshuffled"
    # A consumer that stops early ends the producer; an error reaches the consumer.
    for b in ferrograph.Loader(s, seeds, 8, prefetch=2):
        break
    bad = ferrograph.Loader(s, np.array([1, 2, 10**7]), 2, prefetch=2)
    with pytest.raises(IndexError, match="outside"):
        list(bad)
    # Arguments a cast would change are refused up front.
    with pytest.raises(TypeError, match="seeds: node ids must be integers, got an array of float64"):
        ferrograph.Loader(s, [1.5, 2.0], 2)
    with pytest.raises(ValueError, match=r"seeds: a 1-D array of node ids is needed, got shape \(2, 2\)"):
        ferrograph.Loader(s, [[1, 2], [3, 4]], 2)
    with pytest.raises(TypeError, match="batch_size: an integer is needed, got float"):
        ferrograph.Loader(s, seeds, 2.5)
    with pytest.raises(TypeError, match="prefetch: an integer is needed, got str"):
        ferrograph.Loader(s, seeds, 2, prefetch="2")
    assert len(ferrograph.Loader(s, seeds.astype(np.uint32), np.int64(64))) == -(-seeds.size // 64)


def test_hetero_sampler_walks_typed_relations(gl):
    s = ferrograph.HeteroNeighborSampler(gl, "user", {"u2i": [4, 3], "i2i": [4, 3], "u2i_rev": [4, 3]}, seed=5)
    o = s.sample([3, 1, 4], epoch=0)
    assert list(o["node"]["user"][:3]) == [3, 1, 4]
    assert o["num_sampled_nodes"]["user"][0] == 3 and o["num_sampled_nodes"]["item"][0] == 0
    ui = gl.csr("u2i")
    # every u2i edge: an item sampled for a user, along u2i
    for r, c in zip(o["row"]["u2i"], o["col"]["u2i"]):
        u, i = o["node"]["user"][c], o["node"]["item"][r]
        assert i in ui[1][ui[0][u]:ui[0][u + 1]]
    assert sum(o["num_sampled_edges"]["u2i"]) == len(o["row"]["u2i"])
    again = s.sample([3, 1, 4], epoch=0)
    for t in o["node"]:
        np.testing.assert_array_equal(o["node"][t], again["node"][t])
    with pytest.raises(KeyError, match="did you mean"):
        ferrograph.HeteroNeighborSampler(gl, "user", [("u2j", [2])])
    with pytest.raises(OverflowError, match="num_neighbors: .* \\(each fan-out is a count, or -1\\)"):
        ferrograph.HeteroNeighborSampler(gl, "user", {"u2i": [2**64]})
    for bad in (5, np.array(5), None, "u2i"):
        with pytest.raises(TypeError, match="num_neighbors: "):
            ferrograph.HeteroNeighborSampler(gl, "user", bad)
