"""Bad names, bad queries and bad files raise Python exceptions carrying
the CLI's own message (did-you-mean included); nothing panics."""

import numpy as np
import pytest

import ferrograph


def _cli_error(cli, *args):
    p = cli(*args, check=False)
    assert p.returncode != 0, f"the CLI accepted {args}"
    return p.stderr


def _message(excinfo):
    return str(excinfo.value.args[0])


QUERY_CASES = [
    ('g.V("paper").batch(8).outV("cite").sample(2).by("random").values()', "did you mean `cites`?"),
    ('g.V("papr").batch(8).values()', "did you mean `paper`?"),
    ('g.V("paper", "trian").batch(8).values()', "did you mean `train`?"),
    ('g.V("paper").batch(0).values()', "batch size"),
    ('g.V("paper").batch(8).outv("cites").sample(2).by("random").values()', "did you mean `outV`?"),
    ('g.V("paper").batch(8).shuffle(traverse=maybe).values()', "`traverse` is `True` or `False`"),
    ('g.V("paper").batch(8).outV("cites").sample(2).by("randm").values()', "unknown strategy"),
    ('g.V("paper").batch(8).outV("cites").sample().by("random").values()', "needs .by(\"full\")"),
    ('g.V("paper").batch(100000000).values()', "batch"),
    ('g.V("paper").batch(8).outV("cites").values()', "needs .sample(k)"),
    ('g.V("paper").batch(8).values().alias("x")', "nothing may follow `values()`"),
    ('g.V("paper"', "column"),
]


@pytest.mark.parametrize("text,hint", QUERY_CASES)
def test_query_errors_carry_the_cli_message(cora, cora_dir, cli, text, hint):
    with pytest.raises(ValueError) as e:
        ferrograph.Dataset(cora, text, seed=0)
    msg = _message(e)
    assert msg.startswith("query column "), msg
    assert hint in msg, msg
    assert msg in _cli_error(cli, "sample", cora_dir, text)


def test_unknown_names_raise_key_error_with_suggestions(cora, cora_dir, cli):
    with pytest.raises(KeyError) as e:
        ferrograph.NeighborSampler(cora, "cite", [5])
    assert "did you mean `cites`?" in _message(e)
    assert _message(e) in _cli_error(cli, "blocks", cora_dir, "--relation", "cite", "--fanouts", "5", "--nodes", "0")
    with pytest.raises(KeyError, match="did you mean `feat`"):
        ferrograph.gather(cora, "paper", "feet", [0])
    with pytest.raises(KeyError, match="did you mean `paper`"):
        cora.num_nodes("papers")
    with pytest.raises(KeyError, match="did you mean `train`"):
        cora.node_set("paper", "trains")


def test_bad_arguments_raise_value_or_index_errors(cora):
    with pytest.raises(ValueError, match="unknown strategy `uniform`"):
        ferrograph.NeighborSampler(cora, "cites", [5], strategy="uniform")
    with pytest.raises(ValueError, match="each is a positive count, or all are -1"):
        ferrograph.NeighborSampler(cora, "cites", [5, 0])
    with pytest.raises(IndexError, match="seeds: node 2708 is outside 0..2708"):
        ferrograph.NeighborSampler(cora, "cites", [5]).sample([1, 2708])
    with pytest.raises(IndexError, match="node -1 is outside"):
        ferrograph.gather(cora, "paper", "feat", np.array([-1]))
    with pytest.raises(ValueError, match="unknown negative strategy"):
        ferrograph.negatives(cora, "cites", [0], 2, strategy="popular")
    with pytest.raises(ValueError):
        ferrograph.random_walks(cora, "cites", [0], 4, p=0.0, q=1.0)
    # Outputs sized by the request fail the call instead of aborting the process.
    with pytest.raises(ValueError, match="1 walks of length 288230376151711744 would need .* bytes, more than"):
        ferrograph.random_walks(cora, "cites", [0], 1 << 58)
    with pytest.raises(ValueError, match="negatives for each of 1 sources would need"):
        ferrograph.negatives(cora, "cites", [0], 1 << 60)
    before = ferrograph.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: 1000000 threads: at most"):
        ferrograph.set_num_threads(10**6)  # would start (and hang on) a million threads
    with pytest.raises(ValueError, match="set_num_threads: 0 threads: at least one"):
        ferrograph.set_num_threads(0)
    assert ferrograph.get_num_threads() == before
    need = r"out: a float32 array of shape \(2, 1433\) is needed, got "
    with pytest.raises(TypeError, match=need + "dtype float64, shape \\(2, 1433\\)"):
        ferrograph.gather(cora, "paper", "feat", [1, 2], out=np.zeros((2, 1433)))
    with pytest.raises(TypeError, match=need + "a `list`"):
        ferrograph.gather(cora, "paper", "feat", [1, 2], out=[0.0])
    with pytest.raises(ValueError, match=r"out: shape \[2, 3\], the rows need \(2, 1433\)"):
        ferrograph.gather(cora, "paper", "feat", [1, 2], out=np.zeros((2, 3), dtype=np.float32))


def test_counts_and_seeds_out_of_range_name_the_argument(cora):
    # Python's own message ("can't convert negative int to unsigned")
    # names no argument.
    with pytest.raises(OverflowError, match=r"seed: -1 is out of range \(0 to 2\*\*64 - 1\)"):
        ferrograph.NeighborSampler(cora, "cites", [2], seed=-1)
    s = ferrograph.NeighborSampler(cora, "cites", [2], seed=0)
    with pytest.raises(OverflowError, match="epoch: -3 is out of range"):
        s.sample([0], -3)
    with pytest.raises(OverflowError, match="epoch: 18446744073709551616 is out of range"):
        s.sample([0], epoch=2**64)
    with pytest.raises(OverflowError, match="length: -1 is out of range"):
        ferrograph.random_walks(cora, "cites", [0], -1)
    with pytest.raises(OverflowError, match="k: -2 is out of range"):
        ferrograph.negatives(cora, "cites", [0], -2)
    with pytest.raises(OverflowError, match="seed: -5 is out of range"):
        ferrograph.Dataset(cora, 'g.V("paper").batch(2).values()', seed=-5)
    with pytest.raises(TypeError, match="seed: an integer is needed, got float"):
        ferrograph.NeighborSampler(cora, "cites", [2], seed=1.5)
    with pytest.raises(OverflowError, match="epoch: -1 is out of range"):
        s.sample([0], np.int64(-1))
    assert np.array_equal(s.sample([0], np.int64(3))["node"], s.sample([0], 3)["node"])
    with pytest.raises(OverflowError, match="epoch: -1 is out of range"):
        ferrograph.Dataset(cora, 'g.V("paper").batch(2).values()', seed=0).batch(0, epoch=-1)
    with pytest.raises(OverflowError, match="index: -1 is out of range"):
        ferrograph.Dataset(cora, 'g.V("paper").batch(2).values()', seed=0).batch(-1)
    with pytest.raises(OverflowError, match=r"fanouts: .* \(each fan-out is a count, or -1\)"):
        ferrograph.NeighborSampler(cora, "cites", [2, 2**64])
    with pytest.raises(TypeError, match=r"fanouts: a list of fan-outs is needed \(a count per hop, -1 for all\), got str"):
        ferrograph.NeighborSampler(cora, "cites", "5")
    with pytest.raises(TypeError, match="fanouts: "):
        ferrograph.NeighborSampler(cora, "cites", [2.5])
    with pytest.raises(OverflowError, match="max_batch: -1 is out of range"):
        ferrograph.Dataset(cora, 'g.V("paper").batch(2).values()', max_batch=-1)
    with pytest.raises(OverflowError, match="set_num_threads: -1 is out of range"):
        ferrograph.set_num_threads(-1)
    # The last epoch there is: the next one wraps, it does not fail.
    d = ferrograph.Dataset(cora, 'g.V("paper").batch(2000).values()', seed=0, epoch=2**64 - 1)
    assert sum(1 for _ in d) == 2
    assert sum(1 for _ in d) == 2


def test_the_first_id_out_of_range_is_named_and_strided_ids_are_taken(cora):
    ids = np.arange(5000, dtype=np.int64) % 2710  # 2708 first bad at position 2708, then 2709
    with pytest.raises(IndexError, match="gather: node 2708 is outside 0..2708"):
        ferrograph.gather(cora, "paper", "feat", ids)
    with pytest.raises(IndexError, match="seeds: node -3 is outside 0..2708"):
        ferrograph.NeighborSampler(cora, "cites", [2]).sample(np.array([5, -3, 9000]))
    x = cora.feature("paper", "feat")
    strided = np.arange(2000, dtype=np.int64)[::7]  # not contiguous
    np.testing.assert_array_equal(ferrograph.gather(cora, "paper", "feat", strided), x[strided])
    assert ferrograph.gather(cora, "paper", "feat", np.array([], dtype=np.int64)).shape == (0, x.shape[1])


def test_node_ids_must_be_one_dimensional_integers(cora):
    s = ferrograph.NeighborSampler(cora, "cites", [2], seed=0)
    # Floats are refused, not truncated: 1.5 is not node 1.
    with pytest.raises(TypeError, match="seeds: node ids must be integers, got an array of float64"):
        s.sample(np.array([1.5, 2.0]))
    with pytest.raises(TypeError, match="seeds: node ids must be integers"):
        s.sample([0, 1.5])
    with pytest.raises(TypeError, match="gather: node ids must be integers, got an array of bool"):
        ferrograph.gather(cora, "paper", "feat", np.array([True, False]))
    with pytest.raises(TypeError, match="negatives: node ids must be integers, got an array of <U"):
        ferrograph.negatives(cora, "cites", ["a"], 2)
    with pytest.raises(ValueError, match=r"seeds: a 1-D array of node ids is needed, got shape \[2, 2\]"):
        s.sample(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"random_walks: a 1-D array of node ids is needed, got shape \[\]"):
        ferrograph.random_walks(cora, "cites", 3, 4)
    with pytest.raises(TypeError, match=r"local_ids: node ids must be integers, got an array of object \(ids beyond 64 bits"):
        cora.local_ids("paper", [10**30])
    with pytest.raises(ValueError, match="seeds: node 18446744073709551615 is out of range"):
        s.sample(np.array([2**64 - 1], dtype=np.uint64))
    # Every integer type and layout is taken, with the same result.
    want = s.sample(np.array([3, 5], dtype=np.int64))["node"]
    for ids in ([3, 5], (3, 5), np.array([3, 5], dtype=np.uint8), np.array([3, 5], dtype=np.int32),
                np.array([3, 0, 5], dtype=np.uint64)[::2]):
        assert np.array_equal(s.sample(ids)["node"], want), ids
    assert s.sample([])["node"].size == 0


def test_bad_files_raise_value_error_naming_the_file(tmp_path, cli):
    empty = tmp_path / "not-a-snapshot"
    empty.mkdir()
    with pytest.raises(ValueError) as e:
        ferrograph.open(empty)
    assert str(empty) in _message(e)
    assert _message(e) in _cli_error(cli, "sample", empty, 'g.V("x").values()')

    bad = tmp_path / "bad.toml"
    bad.write_text('[[nodes]]\ntype = "user"\ncount = "many"\n')
    with pytest.raises(ValueError) as e:
        ferrograph.import_graph(bad, tmp_path / "out")
    assert "bad.toml" in _message(e)
    assert _message(e) in _cli_error(cli, "import", bad, "--out", tmp_path / "out2")

    missing = tmp_path / "edges.toml"
    missing.write_text('[[nodes]]\ntype = "u"\ncount = 3\n[[edges]]\nsrc_type = "u"\nrelation = "r"\ndst_type = "u"\nfile = "nope.csv"\nsrc = "a"\ndst = "b"\n')
    with pytest.raises(ValueError) as e:
        ferrograph.import_graph(missing, tmp_path / "out3")
    assert "nope.csv" in _message(e)
    assert not (tmp_path / "out3").exists()


def test_an_existing_output_is_not_replaced(planted_dir, tmp_path):
    with pytest.raises(ValueError, match="already exists"):
        ferrograph.generate_planted(planted_dir, nodes=100)
    g = ferrograph.open(planted_dir)
    assert g.num_nodes("node") == 5000


def _damaged_copy(src, tmp_path, rel, index, value, dtype):
    """A copy of snapshot `src` with element `index` of file `rel` set to
    `value` (the manifest's lengths still match: open succeeds)."""
    import shutil

    d = tmp_path / "damaged"
    shutil.copytree(src, d)
    a = np.fromfile(d / rel, dtype=dtype)
    a[index] = value
    a.tofile(d / rel)
    return d


def test_a_damaged_topology_file_is_named_not_a_panic(planted_dir, tmp_path, cli):
    # A neighbour id past the last node: every sampler, walk, negative and
    # query over the relation raises ValueError naming the file (as the CLI
    # does), before a kernel indexes by it; none returns the bad id.
    d = _damaged_copy(planted_dir, tmp_path, "edges/0/out.dst.u32", 3, 4_000_000_000, np.uint32)
    g = ferrograph.open(d)
    calls = [
        lambda: ferrograph.NeighborSampler(g, "link", [5, 5], seed=0).sample(np.arange(100)),
        lambda: ferrograph.random_walks(g, "link", np.arange(10), 5),
        lambda: ferrograph.negatives(g, "link", np.arange(10), 2, strict=True),
        lambda: list(ferrograph.Dataset(g.V("node").batch(64).alias("s").outV("link").sample(3).by("random").alias("h").values(), seed=0)),
        lambda: list(ferrograph.Dataset(g.E("link").batch(64).alias("e").values(), seed=0)),
    ]
    for call in calls:
        with pytest.raises(ValueError) as e:
            call()
        assert "edges/0/out.dst.u32" in _message(e) and "neighbour 4000000000" in _message(e), _message(e)
    query = 'g.V("node").batch(64).alias("s").outV("link").sample(3).by("random").alias("h").values()'
    assert "edges/0/out.dst.u32" in _cli_error(cli, "sample", d, query)
    # A node set holding a node past the last one names the set's file.
    d3 = _damaged_copy(planted_dir, tmp_path / "s", "nodes/0/set0.u32", 2, 99_999, np.uint32)
    g3 = ferrograph.open(d3)
    for call in [lambda: g3.node_set("node", "train"), lambda: list(ferrograph.Dataset(g3.V("node", "train").batch(8).values(), seed=0))]:
        with pytest.raises(ValueError, match=r"nodes/0/set0\.u32: set `train` holds node 99999, and there are 5000 nodes"):
            call()
    # Offsets that go down name the offsets file.
    d2 = _damaged_copy(planted_dir, tmp_path / "o", "edges/0/out.off.u64", 10, 1, np.uint64)
    with pytest.raises(ValueError, match=r"edges/0/out\.off\.u64: offsets go down at row 9"):
        ferrograph.NeighborSampler(ferrograph.open(d2), "link", [5], seed=0).sample([0])


def test_a_damaged_id_index_is_named_not_a_panic(tmp_path, cli):
    (tmp_path / "u.csv").write_text("id\n" + "".join(f"user{i}\n" for i in range(50)))
    (tmp_path / "e.csv").write_text("a,b\n" + "".join(f"user{i},user{(i * 7) % 50}\n" for i in range(50)))
    (tmp_path / "g.toml").write_text(
        '[[nodes]]\ntype = "u"\nfile = "u.csv"\nid = "id"\nid_type = "string"\n'
        '[[edges]]\nsrc_type = "u"\nrelation = "r"\ndst_type = "u"\nfile = "e.csv"\nsrc = "a"\ndst = "b"\n'
    )
    ferrograph.import_graph(tmp_path / "g.toml", tmp_path / "ok")
    d = _damaged_copy(tmp_path / "ok", tmp_path, "nodes/0/ids.sorted.u32", 5, 3_000_000_000, np.uint32)
    g = ferrograph.open(d)
    for call in [
        lambda: g.external_ids("u", [0, 1]),
        lambda: g.local_ids("u", ["user3"]),
        lambda: list(ferrograph.Dataset(g.V("u").batch(8).values(), seed=0)),
    ]:
        with pytest.raises(ValueError) as e:
            call()
        assert "nodes/0/ids." in _message(e) and "damaged" in _message(e), _message(e)
    assert "nodes/0/ids." in _cli_error(cli, "sample", d, 'g.V("u").batch(8).values()')
