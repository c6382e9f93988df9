#!/usr/bin/env bash
# Data-parallel GraphSAGE on the peers' 10M-edge R-MAT graph through graph
# servers: PARTS partitions (Fennel), one `ferrograph serve` per partition
# on 127.0.0.1, `mpirun -np RANKS ferrograph train --servers` for one epoch
# with validation (layer-wise inference over all 1M nodes through the
# servers). Prints every process's peak RSS (/usr/bin/time -v) and the
# run's summary. Needs `ferrograph bench train` to have written the
# snapshot and config, and a build with `--features mpi`.
#   PARTS=4 RANKS=2 bench/dist-train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PARTS=${PARTS:-4}
RANKS=${RANKS:-2}
BIN=${BIN:-target/release/ferrograph}
WORK=${WORK:-$HOME/.cache/ferrograph-peers/data/ferrograph-train}
OUT=${OUT:-$(mktemp -d)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
[ -x "$BIN" ] || { echo "build first: cargo build --release --features mpi" >&2; exit 1; }
[ -f "$WORK/rmat-sage.toml" ] || { echo "run \`ferrograph bench train\` first (writes $WORK)" >&2; exit 1; }
SNAP="$WORK/rmat-snapshot"
/usr/bin/time -v -o "$OUT/partition.time" "$BIN" partition "$SNAP" --parts "$PARTS" --method fennel --out "$OUT/book"
echo "secret-$RANDOM$RANDOM" > "$OUT/token"
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for p in $(seq 0 $((PARTS - 1))); do
  /usr/bin/time -v -o "$OUT/server-$p.time" "$BIN" serve "$SNAP" --book "$OUT/book" --part "$p" --listen 127.0.0.1:0 \
    --ready-file "$OUT/ready-$p" --token-file "$OUT/token" 2> "$OUT/server-$p.log" &
  pids+=($!)
done
for p in $(seq 0 $((PARTS - 1))); do
  for _ in $(seq 600); do [ -s "$OUT/ready-$p" ] && break; sleep 0.1; done
  [ -s "$OUT/ready-$p" ] || { echo "server $p did not start: $(cat "$OUT/server-$p.log")" >&2; exit 1; }
done
addrs=$(for p in $(seq 0 $((PARTS - 1))); do printf '"%s",' "$(cat "$OUT/ready-$p")"; done)
printf 'book = "book"\nservers = [%s]\ntoken_file = "token"\ndeadline_ms = 30000\n' "${addrs%,}" > "$OUT/servers.toml"
sed "s|^snapshot = \"rmat-snapshot\"|snapshot = \"$SNAP\"|" "$WORK/rmat-sage.toml" > "$OUT/rmat-sage.toml"
t0=$(date +%s.%N)
mpirun --oversubscribe -np "$RANKS" sh -c "exec /usr/bin/time -v -o $OUT/rank-\$OMPI_COMM_WORLD_RANK.time $BIN --threads 1 train $OUT/rmat-sage.toml --out $OUT/run --servers $OUT/servers.toml"
t1=$(date +%s.%N)
cleanup; trap - EXIT
echo "wall: $(echo "$t1 - $t0" | bc) s for $RANKS ranks over $PARTS servers"
for f in "$OUT"/partition.time "$OUT"/server-*.time "$OUT"/rank-*.time; do
  printf '%-16s peak RSS %6d MiB\n' "$(basename "$f" .time)" $(( $(awk '/Maximum resident/ {print $6}' "$f") / 1024 ))
done
python3 -c "
import json; s = json.load(open('$OUT/run/summary.json'))
print('epochs', s['epochs'], 'steps', s['steps'], 'steps/s %.2f' % s['steps_per_second'], 'val', s['val'], 'test', s['test'], 'phases', {k: round(v, 1) for k, v in s['phases'].items()})"
