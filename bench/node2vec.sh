#!/usr/bin/env bash
# node2vec on email-Eu-core side by side with gensim's skip-gram on the same
# walks (issue 5, acceptance 4). Per round and seed: ferrograph on 1 and 2
# threads writes its walks and embeddings, then gensim trains on those walks
# with as many workers, and one logistic-regression probe scores both
# embeddings (macro-F1, mean of 5 stratified 50/50 splits).
#
#   ROUNDS=3 SEEDS="0 1 2 3 4" bench/node2vec.sh
#
# Needs the gensim venv (see bench/peers/node2vec_gensim.py). Prints one line
# per run, then medians of the training seconds and means of the macro-F1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$HOME/.cache/ferrograph-peers/venv-w2v/bin/python}
OUT=${OUT:-${TMPDIR:-/tmp}/ferrograph-node2vec}
cargo build --release -q -p ferrograph-cli
BIN=target/release/ferrograph
LOG="$OUT/runs.tsv"
mkdir -p "$OUT"
: > "$LOG"
for round in $(seq 1 "${ROUNDS:-3}"); do
  for seed in ${SEEDS:-0 1 2}; do
    for t in 1 2; do
      ours=$("$BIN" --threads "$t" bench node2vec --seed "$seed" --out "$OUT/t$t" 2>/dev/null | sed -n 's/^RESULT //p')
      theirs=$("$PY" bench/peers/node2vec_gensim.py "$OUT/t$t" --workers "$t" --seed "$seed" | sed -n 's/^RESULT //p')
      "$PY" - "$round" "$seed" "$t" "$ours" "$theirs" >> "$LOG" <<'PY'
import json, sys
round_, seed, t = sys.argv[1:4]
ours, theirs = json.loads(sys.argv[4]), json.loads(sys.argv[5])
print(f"{round_}\t{seed}\t{t}\t{ours['train_s']:.4f}\t{theirs['train_s']:.4f}\t{theirs['macro_f1_ferrograph']:.4f}\t{theirs['macro_f1_gensim']:.4f}")
PY
      tail -1 "$LOG"
    done
  done
done
"$PY" - "$LOG" <<'PY'
import sys
import numpy as np
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
print('threads  ferrograph_s  gensim_s  speedup  f1_ferrograph  f1_gensim   (median s, mean F1; %d runs each)' % (len(rows) // 2))
for t in ('1', '2'):
    r = np.array([[float(x) for x in row[3:]] for row in rows if row[2] == t])
    ours, theirs = np.median(r[:, 0]), np.median(r[:, 1])
    print(f"{t:>7}  {ours:12.3f}  {theirs:8.3f}  {theirs / ours:6.2f}x  {r[:, 2].mean():13.4f}  {r[:, 3].mean():9.4f}")
PY
