#!/usr/bin/env bash
# Installs the npm packages the interop oracle tests use (tests/oracle/) at the
# exact versions of the committed package-lock.json, with `npm ci`. Runs npm
# only when node_modules is missing or was installed from another lockfile
# (a stamp in node_modules records which), so it works offline once installed.
# (The openai oracle, tests/server/openai_oracle/, is installed the same way
# into the build tree by server_openai_test.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/tests/oracle"
STAMP=node_modules/.babysea-lockfile
if [ ! -f "$STAMP" ] || ! cmp -s package-lock.json "$STAMP"; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json "$STAMP"
fi
