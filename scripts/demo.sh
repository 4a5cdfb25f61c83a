#!/usr/bin/env bash
# The babysea demo on a fresh Debian machine: installs what it needs, builds
# the reference server, the admin CLI and the provider emulators, then runs the
# end-to-end scenario of scripts/demo.py. Exits non-zero if anything is off.
# Usage: scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBABYSEA_BUILD_EXAMPLES=ON -DBABYSEA_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target babysea_server_bin babysea_admin babysea_emulators_bin
echo
exec python3 scripts/demo.py "$BUILD_DIR"
