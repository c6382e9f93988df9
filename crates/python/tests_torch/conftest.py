"""Fixtures: snapshots made once per session (a planted-partition graph
generated in code, Cora imported from ../shared/data), and the CLI binary
the Python results are compared with."""

import json
import os
import pathlib
import subprocess

import pytest

import ferrograph

REPO = pathlib.Path(__file__).resolve().parents[3]


def _binary():
    env = os.environ.get("FERROGRAPH_BIN")
    candidates = [pathlib.Path(env)] if env else []
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidates += [target / "debug" / "ferrograph", target / "release" / "ferrograph"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise RuntimeError(
        "the ferrograph CLI is needed to compare with; build it (cargo build -p ferrograph-cli) "
        f"or set FERROGRAPH_BIN (looked in {', '.join(map(str, candidates))})"
    )


@pytest.fixture(scope="session")
def cli():
    path = _binary()

    def run(*args, check=True):
        p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"ferrograph {' '.join(map(str, args))} failed: {p.stderr}")
        return p

    run.json = lambda *args: json.loads(run(*args).stdout)
    return run


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("planted") / "graph"
    ferrograph.generate_planted(d, nodes=5000, seed=3)
    return d


@pytest.fixture(scope="session")
def planted(planted_dir):
    return ferrograph.open(planted_dir)


@pytest.fixture(scope="session")
def cora_dir(tmp_path_factory):
    data = REPO.parent / "shared" / "data" / "cora"
    if not data.is_dir():
        raise RuntimeError(f"the tests read Cora from {data} (../shared beside the checkout)")
    d = tmp_path_factory.mktemp("cora") / "graph"
    ferrograph.import_graph(REPO / "configs" / "cora-csv.toml", d)
    return d


@pytest.fixture(scope="session")
def cora(cora_dir):
    return ferrograph.open(cora_dir)


@pytest.fixture(scope="session")
def gl_dir(tmp_path_factory):
    """A user-item graph of the shape graph-learn's documentation queries:
    users and items, weighted `u2i`, `click`, `buy` and `interaction`
    edges (user → item) and `i2i`/`i-i` (item → item)."""
    import numpy as np

    root = tmp_path_factory.mktemp("gl")
    rng = np.random.default_rng(7)
    users, items = 300, 500
    toml = [
        f'[[nodes]]\ntype = "user"\ncount = {users}\n',
        f'[[nodes]]\ntype = "item"\ncount = {items}\n',
    ]
    for rel, src, dst, n, src_n, dst_n in [
        ("u2i", "user", "item", 3000, users, items),
        ("click", "user", "item", 2500, users, items),
        ("buy", "user", "item", 1500, users, items),
        ("interaction", "user", "item", 2000, users, items),
        ("i2i", "item", "item", 2500, items, items),
        ("i-i", "item", "item", 2000, items, items),
    ]:
        s = rng.integers(0, src_n, n)
        d = rng.integers(0, dst_n, n)
        w = rng.random(n).round(4) + 0.01
        path = root / f"{rel}.csv"
        with open(path, "w") as f:
            f.write("src,dst,weight\n")
            for a, b, c in zip(s, d, w):
                f.write(f"{a},{b},{c}\n")
        toml.append(
            f'[[edges]]\nsrc_type = "{src}"\nrelation = "{rel}"\ndst_type = "{dst}"\n'
            f'reverse = "{rel}_rev"\nfile = "{path.name}"\nsrc = "src"\ndst = "dst"\nweight = "weight"\n'
        )
    cfg = root / "import.toml"
    cfg.write_text("\n".join(toml))
    out = root / "graph"
    ferrograph.import_graph(cfg, out)
    return out


@pytest.fixture(scope="session")
def gl(gl_dir):
    return ferrograph.open(gl_dir)
