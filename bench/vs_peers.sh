#!/usr/bin/env bash
# ferrograph side by side with the peers, in one run on this machine.
#
#   bench/vs_peers.sh build            # graph build from arrays, and TSV import
#   bench/vs_peers.sh sample           # 2-hop [15, 10] in-neighbour sampling
#   bench/vs_peers.sh train            # GraphSAGE training steps/s (50 steps after 2 warm-up)
#   (REPS=3 THREADS="1 2" PEERS="dgl pyg glt gl")
#
# Needs ../shared/bench/peers/setup.sh to have run once (it installs the peers
# under $PEERS_HOME, default ~/.cache/ferrograph-peers). Each peer builds the
# 10M-edge R-MAT graph from rmat/src.npy + rmat/dst.npy (graph-learn: from the
# TSV file it writes, gl/edges_rev.tsv); ferrograph builds the same arrays
# (`ferrograph bench build`) and imports the same TSV. Prints a table of
# medians and the ratios.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
ROOT=${PEERS_HOME:-$HOME/.cache/ferrograph-peers}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 2"}
PEERS=${PEERS:-"dgl pyg glt gl"}
TASK=${1:-build}
case $TASK in build|sample|train) ;; *) echo "usage: $0 build|sample|train" >&2; exit 2;; esac
OUT=${OUT:-$ROOT/results/$TASK-$(date +%Y%m%d-%H%M%S)}
[ -x "$ROOT/venv-glt/bin/python" ] || { echo "run $PEERS_DIR/setup.sh first" >&2; exit 2; }
mkdir -p "$OUT" "$ROOT/data"
"$ROOT/venv-glt/bin/python" "$PEERS_DIR/gen_data.py" >/dev/null
(cd "$REPO" && cargo build --release -q -p ferrograph-cli)
FG=$REPO/target/release/ferrograph
py() { case $1 in pyg|glt) echo "$ROOT/venv-glt/bin/python";; dgl|dglgb) echo "$ROOT/venv-dgl/bin/python";; gl) echo "$ROOT/venv-gl/bin/python";; esac; }
for r in $(seq 1 "$REPS"); do
  for p in $PEERS; do
    for t in $THREADS; do
      [ "$p" = gl ] && [ "$t" != 1 ] && continue
      echo "rep $r: $p threads=$t" >&2
      (cd "$ROOT/data" && OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE DGLBACKEND=pytorch \
        timeout 900 "$(py "$p")" "$PEERS_DIR/peer_$p.py" --threads "$t" --tasks "$TASK") > "$OUT/$p-t$t-r$r.log" 2>&1 \
        || echo "  [warn] $p threads=$t exited non-zero (see $OUT/$p-t$t-r$r.log)" >&2
    done
  done
  echo "rep $r: ferrograph" >&2
  if [ "$TASK" = build ]; then
    TSV=$ROOT/data/gl/edges_rev.tsv
    [ -f "$TSV" ] || TSV=
    "$FG" bench build --data "$ROOT/data" --reps 1 --thread-counts "$(echo $THREADS | tr ' ' ,)" ${TSV:+--tsv "$TSV"} > "$OUT/ferrograph-r$r.log" 2>&1
  elif [ "$TASK" = sample ]; then
    "$FG" bench sample --data "$ROOT/data" --reps 1 --thread-counts "$(echo $THREADS | tr ' ' ,)" > "$OUT/ferrograph-r$r.log" 2>&1
  else
    : > "$OUT/ferrograph-r$r.log"
    for t in $THREADS; do
      "$FG" --threads "$t" bench train --data "$ROOT/data" >> "$OUT/ferrograph-r$r.log" 2>&1
    done
  fi
done
python3 "$HERE/summarize.py" "$TASK" "$OUT" | tee "$OUT/table.md"
