#!/usr/bin/env bash
# Installs puppeteer-core (npm ci, at the exact versions of the committed
# package-lock.json) into <prefix> and runs playground_test.js in Debian's
# chromium. npm runs only when <prefix> lacks the packages of this lockfile.
# An install failure, or no chromium, fails the test: nothing is skipped.
#   run.sh <prefix>
# Environment: BABYSEA_SERVER_BIN, BABYSEA_ADMIN_BIN, BABYSEA_EMULATORS_BIN,
# BABYSEA_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
PREFIX="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHROMIUM="${BABYSEA_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "no chromium at $CHROMIUM (scripts/deps.sh installs it)"; exit 1; }
mkdir -p "$PREFIX"
STAMP="$PREFIX/node_modules/.babysea-lockfile"
if [ ! -f "$STAMP" ] || ! cmp -s "$HERE/package-lock.json" "$STAMP"; then
  cp "$HERE/package.json" "$HERE/package-lock.json" "$PREFIX/"
  (cd "$PREFIX" && npm ci --no-audit --no-fund --loglevel=error >npm-install.log 2>&1) || {
    echo "npm ci of puppeteer-core failed:"; cat "$PREFIX/npm-install.log"; exit 1; }
  cp "$HERE/package-lock.json" "$STAMP"
fi
export BABYSEA_PUPPETEER="$PREFIX/node_modules/puppeteer-core"
export BABYSEA_CHROMIUM="$CHROMIUM"
exec node "$HERE/playground_test.js"
