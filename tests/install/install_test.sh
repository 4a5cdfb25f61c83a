#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer through find_package(babysea) and through pkg-config.
set -euo pipefail
BUILD="$1"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
cmake -S "$SRC/consumer" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/consumer" -j 2 >/dev/null
"$WORK/consumer/consumer"
LD_LIBRARY_PATH="$WORK/prefix/lib" "$WORK/consumer/consumer_c"
# The shared library exports only the C ABI.
bad=$(nm -D --defined-only "$WORK/prefix/lib/libbabysea.so" | awk '{print $3}' | grep -v '^babysea_' || true)
if [ -n "$bad" ]; then echo "unexpected exported symbols:"; echo "$bad" | head; exit 1; fi
# pkg-config
export PKG_CONFIG_PATH="$WORK/prefix/lib/pkgconfig"
c++ -std=c++20 "$SRC/consumer/main.cpp" -o "$WORK/pc_consumer" $(pkg-config --cflags babysea) \
  $(pkg-config --static --libs babysea)
"$WORK/pc_consumer"
cc -std=c11 "$SRC/consumer/main.c" -o "$WORK/pc_consumer_c" $(pkg-config --cflags --libs babysea-c)
LD_LIBRARY_PATH="$WORK/prefix/lib" "$WORK/pc_consumer_c"
echo "install test passed"
