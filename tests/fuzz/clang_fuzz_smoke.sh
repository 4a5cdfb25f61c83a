#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (BABYSEA_BUILD_FUZZ=ON) under ASan
# and UBSan (UBSan errors fatal: -fno-sanitize-recover=all, which
# BABYSEA_SANITIZE adds) in its own build tree, checks that the binaries carry
# both sanitizers, replays every committed corpus through the real libFuzzer
# binaries, then fuzzes each for a few seconds from that corpus.
# Needs clang++ and libclang-rt-14-dev (scripts/deps.sh installs both).
# Usage: clang_fuzz_smoke.sh <source-dir> <build-dir> [seconds-per-target]
set -euo pipefail
SRC="$1"
BUILD="$2"
SECONDS_EACH="${3:-5}"
TARGETS=(normalize_fuzz webhook_standard_fuzz webhook_hmac_fuzz webhook_fal_fuzz api_key_fuzz net_guard_fuzz capi_fuzz)
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DBABYSEA_BUILD_FUZZ=ON -DBABYSEA_BUILD_BENCH=OFF \
  -DBABYSEA_BUILD_EXAMPLES=OFF -DBABYSEA_INSTALL=OFF -DBABYSEA_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD" -j 2 --target "${TARGETS[@]}" >/dev/null
for t in "${TARGETS[@]}"; do
  syms="$(nm "$BUILD/tests/fuzz/$t")"
  grep -q __asan_report <<<"$syms" || { echo "$t is not built with AddressSanitizer"; exit 1; }
  grep -q __ubsan_handle <<<"$syms" || { echo "$t is not built with UndefinedBehaviorSanitizer"; exit 1; }
  # UBSan errors are fatal (a crash libFuzzer reports), not a printed warning.
  grep -q -- -fno-sanitize-recover=all "$BUILD/tests/fuzz/CMakeFiles/$t.dir/flags.make" \
    || { echo "$t is not built with -fno-sanitize-recover=all"; exit 1; }
done
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for t in "${TARGETS[@]}"; do
  corpus="$SRC/tests/fuzz/corpus/${t%_fuzz}"
  [ -d "$corpus" ] || corpus="$SRC/tests/fuzz/corpus/$t"
  mkdir -p "$WORK/$t"
  # Replay: every committed input once.
  "$BUILD/tests/fuzz/$t" -runs=0 "$corpus" 2>"$WORK/$t.replay.log" || { cat "$WORK/$t.replay.log"; exit 1; }
  # A short fuzzing run from the corpus (new inputs go to a scratch dir).
  "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" "$WORK/$t" "$corpus" 2>"$WORK/$t.log" \
    || { tail -40 "$WORK/$t.log"; exit 1; }
  echo "$t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$WORK/$t.log" || tail -1 "$WORK/$t.log")"
done
echo "clang fuzz smoke passed"
