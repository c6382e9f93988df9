#!/usr/bin/env bash
# Heterogeneous training throughput on ACM, side by side with PyG in the
# same run: ferrograph's HeteroSAGE (configs/train/acm-hetero-sage.toml)
# and PyG's HeteroConv/SAGEConv model of the same shape
# (bench/peers/hetero_pyg.py), same fan-outs (10, 10 per relation), batch
# 32, seeds = the papers of split SEEDS, steps per second of the training
# loop (sampling, forward, backward, optimiser; no evaluation), median over
# epochs 2..EPOCHS, per thread count.
#   bench/hetero.sh            (needs the peers: ../shared/bench/peers/setup.sh)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${PEERS_HOME:-$HOME/.cache/ferrograph-peers}
ACM=${ACM:-$REPO/../shared/data/hetero/acm}
BIN=${BIN:-$REPO/target/release/ferrograph}
OUT=${OUT:-/tmp/ferrograph-hetero-bench}
SEEDS=${SEEDS:-test_20}
EPOCHS=${EPOCHS:-6}
THREADS=${THREADS:-1 2}
MODEL=${MODEL:-acm-hetero-sage}
[ -x "$BIN" ] || cargo build --release -p ferrograph-cli --manifest-path "$REPO/Cargo.toml"
mkdir -p "$OUT"
sed -e "s|import = \"../acm.toml\"|import = \"$REPO/configs/acm.toml\"|" \
    -e "s|train_set = \"train_20\"|train_set = \"$SEEDS\"|" \
    -e "s|^epochs = .*|epochs = $EPOCHS|" -e "/^patience/d" \
    -e "s|^output = .*|output = \"$OUT/run\"|" "$REPO/configs/train/$MODEL.toml" > "$OUT/$MODEL.toml"
for T in $THREADS; do
  rm -rf "$OUT/run"
  "$BIN" --threads "$T" train "$OUT/$MODEL.toml" > "$OUT/train-$T.log" 2>&1
  ours=$(python3 -c "
import json, statistics
r = [json.loads(l)['steps_per_second'] for l in open('$OUT/run/metrics.jsonl')]
print(json.dumps({'peer': 'ferrograph', 'model': '$MODEL', 'threads': $T, 'steps_per_second': r, 'median': statistics.median(r[1:] if len(r) > 1 else r)}))")
  echo "$ours"
  peer=$("$ROOT/venv-glt/bin/python" "$REPO/bench/peers/hetero_pyg.py" "$ACM" --seeds "$SEEDS" --epochs "$EPOCHS" --threads "$T")
  echo "$peer"
  python3 -c "
import json
a, b = json.loads('''$ours'''), json.loads('''$peer''')
print(f\"threads {$T}: ferrograph {a['median']:.1f} steps/s, PyG {b['median']:.1f} steps/s, ratio {a['median'] / b['median']:.2f}x\")"
done
