#!/usr/bin/env bash
# The installable package: `npm pack` of a copy of bindings/node that ships the
# built libbabysea.so, installed into a fresh directory (koffi from the npm
# registry), and the binding tests run against the installed copy with
# BABYSEA_LIBRARY unset (the package's own library must be the one loaded).
# Usage: pack_test.sh <libbabysea.so> <bindings/node dir>
set -euo pipefail
lib="$1"
src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pkg"
cp "$src/package.json" "$src/index.js" "$src/index.d.ts" "$src/README.md" "$tmp/pkg/"
cp -L "$lib" "$tmp/pkg/libbabysea.so"
tarball="$(cd "$tmp/pkg" && npm pack --silent --pack-destination "$tmp")"
echo "packed: $tarball"
listing="$(tar -tzf "$tmp/$tarball")"
for want in package/libbabysea.so package/index.js package/index.d.ts package/package.json; do
  grep -qx "$want" <<<"$listing" || { echo "FAIL: the package lacks $want" >&2; exit 1; }
done
mkdir "$tmp/app"
cd "$tmp/app"
npm init -y >/dev/null
npm install --no-audit --no-fund "$tmp/$tarball" >"$tmp/npm-install.log" 2>&1 || {
  echo "npm install of the packed tarball failed:"; cat "$tmp/npm-install.log"; exit 1; }
unset BABYSEA_LIBRARY NODE_PATH
node -e '
const path = require("node:path");
const b = require("babysea");
const want = path.join(process.cwd(), "node_modules", "babysea", "libbabysea.so");
if (b.libraryPath !== want) { console.error("FAIL: loaded " + b.libraryPath + ", not " + want); process.exit(1); }
console.log("installed copy loads " + b.libraryPath + " (libbabysea " + b.version() + ")");
'
export BABYSEA_NODE_PACKAGE="$tmp/app/node_modules/babysea"
exec node --test --test-concurrency=1 "$src/test/babysea.test.js"
