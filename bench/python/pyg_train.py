"""Training parity: PyG's GraphSAGE on Cora (Planetoid split), sampled
mini-batches, through ferrograph.pyg.NeighborLoader and through PyG's own
NeighborLoader over a Data object; mean and std of test accuracy over
seeds. Prints one JSON line per loader.

    PYTHONPATH=<ferrograph wheel dir> python bench/python/pyg_train.py --snapshot out/cora [--seeds 10] [--loaders ferrograph,pyg]
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader as PygNeighborLoader
from torch_geometric.nn import GraphSAGE

import ferrograph
import ferrograph.pyg


def data_of(g):
    indptr, indices = g.csr("cites")
    src = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr.astype(np.int64)))
    return Data(
        x=torch.from_numpy(np.array(g.feature("paper", "feat"))),
        y=torch.from_numpy(np.array(g.feature("paper", "label"))),
        edge_index=torch.stack([torch.from_numpy(src.astype(np.int64)), torch.from_numpy(indices.astype(np.int64))]),
        num_nodes=g.num_nodes("paper"),
    )


def loaders(kind, g, data, seed, fanouts, batch):
    sets = {s: torch.from_numpy(g.node_set("paper", s).astype(np.int64)) for s in ("train", "val", "test")}
    if kind == "ferrograph":
        mk = lambda s, shuffle, f: ferrograph.pyg.NeighborLoader(g, f, input_nodes=s, batch_size=batch, shuffle=shuffle, seed=seed)
    else:
        mk = lambda s, shuffle, f: PygNeighborLoader(data, num_neighbors=f, input_nodes=sets[s], batch_size=batch, shuffle=shuffle)
    return mk("train", True, fanouts), mk("val", False, [-1, -1]), mk("test", False, [-1, -1])


@torch.no_grad()
def accuracy(model, loader):
    model.eval()
    correct = total = 0
    for b in loader:
        out = model(b.x, b.edge_index)[: b.batch_size]
        correct += int((out.argmax(-1) == b.y[: b.batch_size]).sum())
        total += b.batch_size
    return correct / total


def run(kind, g, data, seed, epochs, fanouts, batch):
    torch.manual_seed(seed)
    np.random.seed(seed)
    train, val, test = loaders(kind, g, data, seed, fanouts, batch)
    model = GraphSAGE(data.num_features, 64, num_layers=2, out_channels=int(data.y.max()) + 1, dropout=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, best_test = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        if kind == "ferrograph":
            train.node_sampler.set_epoch(epoch)
        for b in train:
            opt.zero_grad()
            out = model(b.x, b.edge_index)[: b.batch_size]
            F.cross_entropy(out, b.y[: b.batch_size]).backward()
            opt.step()
        v = accuracy(model, val)
        if v > best_val:
            best_val, best_test = v, accuracy(model, test)
    return best_val, best_test


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--snapshot", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--loaders", default="ferrograph,pyg")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = ferrograph.open(args.snapshot)
    data = data_of(g)
    for kind in args.loaders.split(","):
        t0 = time.time()
        tests = [run(kind, g, data, s, args.epochs, [10, 5], 64)[1] for s in range(args.seeds)]
        print(json.dumps({"loader": kind, "torch": torch.__version__, "seeds": args.seeds, "epochs": args.epochs,
                          "mean_test": float(np.mean(tests)), "std_test": float(np.std(tests)), "tests": tests,
                          "seconds": time.time() - t0}), flush=True)


if __name__ == "__main__":
    main()
