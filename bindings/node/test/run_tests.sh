#!/usr/bin/env bash
# Installs koffi (npm, into <deps-dir>) and runs the node:test suite of the
# babysea binding. An install failure fails the test: nothing is skipped.
#   run_tests.sh <deps-dir> [node --test options, e.g. --test-name-pattern=PostgreSQL]
# Environment: BABYSEA_LIBRARY, BABYSEA_EMULATORS_BIN (BABYSEA_TEST_PG: the
# PostgreSQL test runs too).
set -euo pipefail
DEPS="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KOFFI_SPEC="$(node -p "require('$HERE/../package.json').dependencies.koffi")"
mkdir -p "$DEPS"
if ! node -e "require('$DEPS/node_modules/koffi')" >/dev/null 2>&1; then
  npm install --prefix "$DEPS" --no-audit --no-fund --no-save "koffi@$KOFFI_SPEC" >"$DEPS/npm-install.log" 2>&1 || {
    echo "npm install koffi@$KOFFI_SPEC failed:"; cat "$DEPS/npm-install.log"; exit 1; }
fi
node -e "require('$DEPS/node_modules/koffi')" || { echo "koffi does not load"; exit 1; }
export NODE_PATH="$DEPS/node_modules${NODE_PATH:+:$NODE_PATH}"
exec node --test --test-concurrency=1 "${@:2}" "$HERE/babysea.test.js"
