#!/usr/bin/env bash
# Builds babysea and runs every test. Usage: scripts/test.sh
# Environment: BUILD_DIR (default build), JOBS (default nproc),
# BABYSEA_SANITIZE (e.g. address,undefined), CTEST_ARGS (extra ctest flags).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
bash scripts/oracle_deps.sh
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBABYSEA_BUILD_TESTS=ON -DBABYSEA_BUILD_BENCH=ON -DBABYSEA_BUILD_EXAMPLES=ON \
  -DBABYSEA_SANITIZE="${BABYSEA_SANITIZE:-}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
# ctest's summary ("100% tests passed, 0 tests failed out of N") is the last
# line this script prints.
set +e
ctest --output-on-failure -j "$JOBS" ${CTEST_ARGS:-} >ctest.log 2>&1
status=$?
set -e
grep -v -E "tests passed|tests failed|^Total Test time" ctest.log || true
grep -E "tests passed|tests failed" ctest.log | tail -1
exit "$status"
