"""PyG peer for heterogeneous training throughput on ACM: HeteroConv with
a SAGEConv per relation (summed per destination type), the shape of
`configs/train/acm-hetero-sage.toml` (2 layers, hidden 64, dropout 0.8,
subjects read a learnable 64-wide embedding, Adam lr 0.005, weight decay
0.001), trained on NeighborLoader mini-batches with the same fan-outs
(10 per relation and hop) and batch size (32 papers). Prints one JSON line
with steps per second per epoch (training steps only: sampling, forward,
backward, optimiser), as `bench/hetero.sh` reads it.

    ~/.cache/ferrograph-peers/venv-glt/bin/python bench/peers/hetero_pyg.py ../shared/data/hetero/acm --seeds test_20 --threads 1
"""
import argparse, json, time

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import HeteroConv, SAGEConv

p = argparse.ArgumentParser()
p.add_argument('acm')
p.add_argument('--seeds', default='test_20', help='papers to train on (a split file stem)')
p.add_argument('--epochs', type=int, default=6)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--batch', type=int, default=32)
p.add_argument('--fanout', type=int, default=10)
p.add_argument('--workers', type=int, default=0, help='NeighborLoader worker processes')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

d = a.acm
data = HeteroData()
data['paper'].x = torch.from_numpy(sp.load_npz(f'{d}/p_feat.npz').toarray().astype(np.float32))
data['author'].x = torch.from_numpy(sp.load_npz(f'{d}/a_feat.npz').toarray().astype(np.float32))
data['subject'].num_nodes = 60
data['paper'].y = torch.from_numpy(np.load(f'{d}/labels.npy').astype(np.int64))
pa = torch.from_numpy(np.loadtxt(f'{d}/pa.txt', dtype=np.int64)).t()
ps = torch.from_numpy(np.loadtxt(f'{d}/ps.txt', dtype=np.int64)).t()
data['paper', 'written_by', 'author'].edge_index = pa
data['author', 'writes', 'paper'].edge_index = pa.flip(0)
data['paper', 'has_subject', 'subject'].edge_index = ps
data['subject', 'subject_of', 'paper'].edge_index = ps.flip(0)
seeds = torch.from_numpy(np.load(f'{d}/{a.seeds}.npy').astype(np.int64))
classes = int(data['paper'].y.max()) + 1

loader = NeighborLoader(data, num_neighbors=[a.fanout, a.fanout], batch_size=a.batch, input_nodes=('paper', seeds), shuffle=True, num_workers=a.workers)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.subject = torch.nn.Embedding(60, 64)
        self.convs = torch.nn.ModuleList(
            [HeteroConv({et: SAGEConv((-1, -1), out) for et in data.edge_types}, aggr='sum') for out in (64, classes)]
        )

    def forward(self, x, edge_index):
        for i, conv in enumerate(self.convs):
            x = {t: F.dropout(v, p=0.8, training=self.training) for t, v in x.items()}
            x = conv(x, edge_index)
            if i == 0:
                x = {t: F.relu(v) for t, v in x.items()}
        return x['paper']


model = Model()
with torch.no_grad():  # materialise the lazy (-1) input widths
    b = next(iter(loader))
    model({'paper': b['paper'].x, 'author': b['author'].x, 'subject': model.subject(b['subject'].n_id)}, b.edge_index_dict)
opt = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=0.001)
model.train()
rates = []
for epoch in range(a.epochs):
    t0, steps = time.perf_counter(), 0
    for b in loader:
        opt.zero_grad()
        x = {'paper': b['paper'].x, 'author': b['author'].x, 'subject': model.subject(b['subject'].n_id)}
        out = model(x, b.edge_index_dict)[: b['paper'].batch_size]
        loss = F.cross_entropy(out, b['paper'].y[: b['paper'].batch_size])
        loss.backward()
        opt.step()
        steps += 1
    rates.append(steps / (time.perf_counter() - t0))
print(json.dumps({'peer': 'pyg', 'torch_geometric': __import__('torch_geometric').__version__, 'threads': a.threads, 'workers': a.workers,
                  'steps_per_epoch': steps, 'steps_per_second': rates, 'median': float(np.median(rates[1:] if len(rates) > 1 else rates))}))
