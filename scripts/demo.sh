#!/usr/bin/env bash
# Builds babysea and runs the demo. Usage: scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBABYSEA_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target ledger_demo
echo
"$BUILD_DIR/examples/ledger_demo"
