#!/usr/bin/env bash
# The tests that need torch and PyG (crates/python/tests_torch), outside CI:
# CI's environments hold only numpy and pytest (a torch install is about 1 GB
# and PyG's own loaders need pyg-lib or torch-sparse builds for that torch).
#
#   PYTHON=~/.cache/ferrograph-peers/venv-glt/bin/python crates/python/run-torch-tests.sh
#
# PYTHON is an interpreter with torch, torch_geometric and pytest (the
# peers' venv-glt has torch 2.3.0, PyG 2.6.1 and torch-sparse); the wheel is
# installed into a scratch folder on PYTHONPATH, not into that environment.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:?set PYTHON to an interpreter with torch and torch_geometric}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
MATURIN=${MATURIN:-maturin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$HERE" && "$MATURIN" build --profile dev -o "$work/wheels" -q)
(cd "$REPO" && cargo build -q -p ferrograph-cli)
"$PYTHON" -m pip install -q --no-deps --target "$work/pkg" "$work"/wheels/ferrograph-*.whl
"$PYTHON" -c "import pytest" 2>/dev/null || "$PYTHON" -m pip install -q --target "$work/pkg" pytest
cd "$HERE"
FERROGRAPH_BIN="$CARGO_TARGET_DIR/debug/ferrograph" PYTHONPATH="$work/pkg" "$PYTHON" -m pytest -q -p no:cacheprovider tests_torch "$@"
