#!/usr/bin/env bash
# Installs the npm packages the interop oracle tests use (tests/oracle/), once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/tests/oracle"
if [ ! -d node_modules/stripe ] || [ ! -d node_modules/standardwebhooks ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
