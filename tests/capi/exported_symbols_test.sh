#!/usr/bin/env bash
# The shared library exports only the C ABI: every defined dynamic symbol is
# babysea_*, and the symbols babysea.h declares are all there.
#   exported_symbols_test.sh <libbabysea.so> <babysea.h>
set -euo pipefail
LIB="$1"
HEADER="$2"
syms=$(nm -D --defined-only "$LIB" | awk 'NF >= 3 {print $3}')
if [ -z "$syms" ]; then echo "no exported symbols found in $LIB"; exit 1; fi
bad=$(echo "$syms" | grep -v '^babysea_' || true)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad" | head -50; exit 1
fi
# Every function declared in the header is exported.
declared=$(grep -oE 'BABYSEA_CAPI [^(]*\b(babysea_[a-z0-9_]+)\(' "$HEADER" | grep -oE 'babysea_[a-z0-9_]+\($' | tr -d '(' | sort -u)
missing=0
for fn in $declared; do
  if ! echo "$syms" | grep -qx "$fn"; then echo "declared but not exported: $fn"; missing=1; fi
done
[ "$missing" = 0 ] || exit 1
n=$(echo "$declared" | wc -w)
echo "exported symbols: $(echo "$syms" | wc -l), all babysea_*; $n declared functions exported"
