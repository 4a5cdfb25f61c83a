#!/usr/bin/env bash
# The babysea demo on a fresh Debian machine: installs what it needs, builds
# the reference server, the admin CLI and the provider emulators, then runs the
# end-to-end scenario of scripts/demo.py. Exits non-zero if anything is off.
# Usage: scripts/demo.sh [--postgres | --cluster]
#   --postgres: the same scenario on a private PostgreSQL that
#   scripts/with_postgres.sh starts for it and removes afterwards (the
#   postgresql package comes with scripts/deps.sh).
#   --cluster: three servers on one private PostgreSQL and one private Redis
#   (scripts/with_postgres.sh running scripts/with_redis.sh), the client's
#   calls spread over the three in turn.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
postgres=0
cluster=0
for arg in "$@"; do
  case "$arg" in
    --postgres) postgres=1 ;;
    --cluster) cluster=1 ;;
    *) echo "usage: scripts/demo.sh [--postgres | --cluster]" >&2; exit 2 ;;
  esac
done
bash scripts/deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBABYSEA_BUILD_EXAMPLES=ON -DBABYSEA_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target babysea_server_bin babysea_admin babysea_emulators_bin
echo
if ((cluster)); then
  exec bash scripts/with_postgres.sh bash scripts/with_redis.sh python3 scripts/demo.py "$BUILD_DIR" --cluster
fi
if ((postgres)); then
  exec bash scripts/with_postgres.sh python3 scripts/demo.py "$BUILD_DIR" --postgres
fi
exec python3 scripts/demo.py "$BUILD_DIR"
