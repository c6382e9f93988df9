"""gensim peer for node2vec: trains gensim's skip-gram (sg=1, negative
sampling, no frequent-token subsampling, as ferrograph) on the *same* walks
ferrograph wrote (`ferrograph bench node2vec --out DIR`), times it, then
probes both embeddings with the same logistic regression on the same splits
(macro-F1 averaged over --splits stratified 50/50 splits).

    ~/.cache/ferrograph-peers/venv-w2v/bin/python bench/peers/node2vec_gensim.py DIR --workers 1
(venv: python3 -m venv ~/.cache/ferrograph-peers/venv-w2v && venv-w2v/bin/pip install gensim scikit-learn)
"""
import argparse, json, time

import numpy as np
from gensim.models import Word2Vec
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

p = argparse.ArgumentParser()
p.add_argument('dir')
p.add_argument('--dim', type=int, default=128)
p.add_argument('--window', type=int, default=5)
p.add_argument('--negatives', type=int, default=5)
p.add_argument('--epochs', type=int, default=1)
p.add_argument('--workers', type=int, default=1)
p.add_argument('--seed', type=int, default=0)
p.add_argument('--splits', type=int, default=5, help='probe splits (stratified 50/50, random_state 0..N-1); macro-F1 is their mean')
a = p.parse_args()
walks = np.load(f'{a.dir}/walks.npy')
labels = np.load(f'{a.dir}/labels.npy')
ours = np.load(f'{a.dir}/ours.npy')
sentences = [[str(v) for v in w if v >= 0] for w in walks]
n = len(labels)
t0 = time.perf_counter()
model = Word2Vec(vector_size=a.dim, window=a.window, min_count=0, sg=1, hs=0, negative=a.negatives,
                 sample=0, epochs=a.epochs, workers=a.workers, seed=a.seed, alpha=0.025, min_alpha=0.0001)
model.build_vocab(sentences)
t1 = time.perf_counter()
model.train(sentences, total_examples=len(sentences), epochs=a.epochs)
t2 = time.perf_counter()
vocab_s, train_s = t1 - t0, t2 - t1
theirs = np.zeros((n, a.dim), dtype=np.float32)
for v in range(n):
    if str(v) in model.wv:
        theirs[v] = model.wv[str(v)]
idx = np.arange(n)
keep = np.bincount(labels)[labels] >= 2
splits = [train_test_split(idx[keep], test_size=0.5, random_state=r, stratify=labels[keep]) for r in range(a.splits)]


def probe(x):
    f1 = []
    for tr, te in splits:
        clf = LogisticRegression(max_iter=2000)
        clf.fit(x[tr], labels[tr])
        f1.append(f1_score(labels[te], clf.predict(x[te]), average='macro'))
    return float(np.mean(f1))


tokens = sum(len(s) for s in sentences)
print('RESULT ' + json.dumps({'system': 'gensim', 'train_s': train_s, 'vocab_s': vocab_s, 'tokens_per_s': tokens / train_s, 'workers': a.workers,
                              'macro_f1_gensim': probe(theirs), 'macro_f1_ferrograph': probe(ours)}), flush=True)
