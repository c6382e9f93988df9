#!/usr/bin/env bash
# Partition quality: edge-cut, balance, replication, time and peak memory of
# hash, METIS and Fennel on soc-Slashdot0902, ego-Twitter and the peers'
# 10M-edge R-MAT graph, N = 2, 4, 8 (issue 14, acceptance 1).
#
#   bench/partition.sh            # needs `ferrograph bench train` to have written the R-MAT snapshot
#   (PARTS="2 4 8" METHODS="hash metis fennel" WORK=/tmp/ferrograph-partition)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/ferrograph-partition}
PARTS=${PARTS:-"2 4 8"}
METHODS=${METHODS:-"hash metis fennel"}
RMAT=${RMAT:-$HOME/.cache/ferrograph-peers/data/ferrograph-train/rmat-snapshot}
(cd "$REPO" && cargo build --release -q -p ferrograph-cli)
FG=$REPO/target/release/ferrograph
mkdir -p "$WORK"
[ -d "$WORK/slashdot" ] || (cd "$REPO" && "$FG" import configs/snap-soc-slashdot0902.toml --out "$WORK/slashdot" >/dev/null)
[ -d "$WORK/twitter" ] || (cd "$REPO" && "$FG" import configs/snap-ego-twitter.toml --out "$WORK/twitter" >/dev/null)
[ -d "$RMAT" ] || { echo "no R-MAT snapshot at $RMAT: run \`ferrograph bench train\` once" >&2; exit 2; }
echo "| graph | N | method | edge-cut | balance | replication | seconds | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for g in slashdot twitter rmat; do
  snap=$WORK/$g; [ "$g" = rmat ] && snap=$RMAT
  for n in $PARTS; do
    for m in $METHODS; do
      # One process per run, so each peak RSS is its own.
      "$FG" partition "$snap" --parts "$n" --method "$m" --out "$WORK/book-$g-$n-$m" --json \
        | python3 -c "import json,sys; r=json.load(sys.stdin); print(f\"| $g | $n | $m | {r['edge_cut']:.4f} | {r['balance']:.3f} | {r['replication']:.3f} | {r['partition_s']:.2f} | {r['peak_rss_mib']:.0f} |\")"
    done
  done
done
