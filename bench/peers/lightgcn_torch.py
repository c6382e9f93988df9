"""PyTorch LightGCN peer, after the reference implementation
(github.com/gusye1234/LightGCN-PyTorch: `LightGCN.computer`, `bpr_loss`,
`UniformSample_original`, `Test`): torch.sparse.mm propagation over the
symmetric normalised bipartite adjacency, mean of layer outputs, BPR with
L2 on the batch's ego embeddings (divided by the batch size), Adam; Recall@K
and NDCG@K over all items not in a user's training set.

    python lightgcn_torch.py --data ../shared/data/gowalla --users 29858 --items 40981 \
        --epochs 5 --batch 2048 --lr 0.001 --threads 2

Prints one `RESULT {json}` line per epoch (training seconds, loss) and per
evaluation (recall, ndcg), like ferrograph's `bench lightgcn`.
"""
import argparse, json, time

import numpy as np
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--data', required=True)
p.add_argument('--users', type=int, required=True)
p.add_argument('--items', type=int, required=True)
p.add_argument('--epochs', type=int, default=5)
p.add_argument('--batch', type=int, default=2048)
p.add_argument('--lr', type=float, default=0.001)
p.add_argument('--l2', type=float, default=1e-4)
p.add_argument('--dim', type=int, default=64)
p.add_argument('--layers', type=int, default=3)
p.add_argument('--k', type=int, default=20)
p.add_argument('--eval-every', type=int, default=0)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--seed', type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
rng = np.random.default_rng(a.seed)


def load(name):
    m = np.loadtxt(f'{a.data}/{name}', delimiter=',', skiprows=1, usecols=(0, 1), dtype=np.int64)
    return m[:, 0], m[:, 1]


tu, ti = load('train.csv')
su, si = load('test.csv')
U, I = a.users, a.items
train_pos = [[] for _ in range(U)]
for u, i in zip(tu, ti):
    train_pos[u].append(i)
train_pos = [np.array(sorted(set(x)), dtype=np.int64) for x in train_pos]
test_pos = [[] for _ in range(U)]
for u, i in zip(su, si):
    test_pos[u].append(i)

# Normalised adjacency (users then items), as getSparseGraph.
deg_u = np.bincount(tu, minlength=U).astype(np.float32)
deg_i = np.bincount(ti, minlength=I).astype(np.float32)
w = 1.0 / np.sqrt(deg_u[tu] * deg_i[ti])
rows = np.concatenate([tu, ti + U])
cols = np.concatenate([ti + U, tu])
vals = np.concatenate([w, w]).astype(np.float32)
G = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals), (U + I, U + I)).coalesce()

emb_u = torch.nn.Embedding(U, a.dim)
emb_i = torch.nn.Embedding(I, a.dim)
torch.nn.init.normal_(emb_u.weight, std=0.1)
torch.nn.init.normal_(emb_i.weight, std=0.1)
opt = torch.optim.Adam(list(emb_u.parameters()) + list(emb_i.parameters()), lr=a.lr)


def computer():
    all_emb = torch.cat([emb_u.weight, emb_i.weight])
    embs = [all_emb]
    for _ in range(a.layers):
        all_emb = torch.sparse.mm(G, all_emb)
        embs.append(all_emb)
    out = torch.stack(embs, dim=1).mean(dim=1)
    return out[:U], out[U:]


def sample():
    n = len(tu)
    users = rng.integers(0, U, n)
    out = []
    for u in users:
        pos = train_pos[u]
        if len(pos) == 0:
            continue
        i = pos[rng.integers(0, len(pos))]
        while True:
            j = rng.integers(0, I)
            if j not in pos:  # numpy membership, as the reference does
                break
        out.append((u, i, j))
    return np.array(out, dtype=np.int64)


def evaluate():
    with torch.no_grad():
        users_e, items_e = computer()
        recall = ndcg = 0.0
        n = 0
        test_users = [u for u in range(U) if test_pos[u]]
        for b in range(0, len(test_users), 1024):
            batch = test_users[b:b + 1024]
            r = users_e[batch] @ items_e.T
            for k, u in enumerate(batch):
                r[k, train_pos[u]] = -float('inf')
            top = torch.topk(r, a.k).indices.numpy()
            for k, u in enumerate(batch):
                truth = set(test_pos[u])
                hit = np.array([1.0 if x in truth else 0.0 for x in top[k]])
                recall += hit.sum() / len(truth)
                dcg = (hit / np.log2(np.arange(2, a.k + 2))).sum()
                idcg = (1.0 / np.log2(np.arange(2, min(len(truth), a.k) + 2))).sum()
                ndcg += dcg / idcg
                n += 1
        return recall / n, ndcg / n


start = time.perf_counter()
for epoch in range(1, a.epochs + 1):
    t0 = time.perf_counter()
    S = sample()
    sample_s = time.perf_counter() - t0
    perm = rng.permutation(len(S))
    S = torch.from_numpy(S[perm])
    total = 0.0
    steps = 0
    for b in range(0, len(S), a.batch):
        batch = S[b:b + a.batch]
        users, pos, neg = batch[:, 0], batch[:, 1], batch[:, 2]
        all_u, all_i = computer()
        eu, ep, en = all_u[users], all_i[pos], all_i[neg]
        loss = F.softplus((eu * en).sum(1) - (eu * ep).sum(1)).mean()
        reg = 0.5 * (emb_u(users).norm(2).pow(2) + emb_i(pos).norm(2).pow(2) + emb_i(neg).norm(2).pow(2)) / len(users)
        opt.zero_grad()
        (loss + a.l2 * reg).backward()
        opt.step()
        total += loss.item()
        steps += 1
    epoch_s = time.perf_counter() - t0
    res = {'system': 'torch-lightgcn', 'epoch': epoch, 'epoch_s': epoch_s, 'sample_s': sample_s, 'loss': total / steps, 'batch': a.batch, 'lr': a.lr,
           'threads': a.threads, 'elapsed_s': time.perf_counter() - start}
    if (a.eval_every and epoch % a.eval_every == 0) or epoch == a.epochs:
        res['recall'], res['ndcg'] = evaluate()
    print('RESULT ' + json.dumps(res), flush=True)
