#!/usr/bin/env bash
# Runs a command against a private PostgreSQL started for it alone:
#   scripts/with_postgres.sh <command...>
# initdb into a fresh temp dir, a server listening only on a Unix socket in
# that dir (no TCP), BABYSEA_TEST_PG exported as its conninfo, then the
# command; the server is stopped and the dir removed on exit, failure
# included. PostgreSQL refuses to run as root, so when run as root the server
# runs as an unprivileged system user (BABYSEA_PG_USER, default
# "babysea-pg", created with useradd if missing) through runuser; the temp
# dir is chowned to it. The server binaries come from PG_BIN (default: the
# newest /usr/lib/postgresql/<version>/bin; scripts/deps.sh installs them).
#
# A test may crash and restart the server: BABYSEA_TEST_PG_CTL names a helper
# (a script in the temp dir) taking one argument:
#   "$BABYSEA_TEST_PG_CTL" stop    pg_ctl stop -m immediate: a crash (no
#                                  shutdown checkpoint, every client cut off)
#   "$BABYSEA_TEST_PG_CTL" start   starts it again on the same data dir and
#                                  socket, waiting until it accepts connections
#                                  (crash recovery included)
# Exit status 0 when done. The server is stopped on exit whatever state a test
# left it in.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 <command...>" >&2
  exit 2
fi

if [[ -z "${PG_BIN:-}" ]]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [[ -z "${PG_BIN}" || ! -x "${PG_BIN}/initdb" ]]; then
  echo "with_postgres.sh: PostgreSQL server binaries not found (install postgresql; see scripts/deps.sh)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/babysea-pg.XXXXXX)
chmod 755 "$dir"
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  pg_user=${BABYSEA_PG_USER:-babysea-pg}
  if ! id -u "$pg_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_user" 2>/dev/null ||
      id -u "$pg_user" >/dev/null  # created concurrently by another run
  fi
  chown "$pg_user" "$dir"
  as_user=(runuser -u "$pg_user" --)
fi

data="$dir/data"
started=0
watchdog=
cleanup() {
  local rc=$?
  [[ -n "$watchdog" ]] && kill "$watchdog" 2>/dev/null || true
  if [[ $started -eq 1 ]]; then
    "${as_user[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_user[@]}" "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2
  exit 1
}
# Unix socket only (listen_addresses empty); fsync stays on so the durability
# settings the store chooses are what gets tested.
pg_ctl_start=("${as_user[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60
  -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200 -c shared_buffers=64MB" start)
pg_ctl_stop=("${as_user[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop)
started=1
"${pg_ctl_start[@]}" >/dev/null || {
  cat "$dir/server.log" >&2
  exit 1
}

# A SIGKILL (a test runner's timeout) skips the trap above: a watchdog in
# its own session, holding none of our output, stops the server and removes
# the dir once this shell is gone.
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; "$@" >/dev/null 2>&1; rm -rf "$0"' \
  "$dir" $$ "${pg_ctl_stop[@]}" </dev/null >/dev/null 2>&1 &
watchdog=$!

# The stop/start helper (see the top): the same commands, quoted into a script.
{
  echo '#!/usr/bin/env bash'
  echo 'case "${1:-}" in'
  echo "  stop) exec $(printf '%q ' "${pg_ctl_stop[@]}") >/dev/null ;;"
  echo "  start) exec $(printf '%q ' "${pg_ctl_start[@]}") >/dev/null ;;"
  echo '  *) echo "usage: $0 stop|start" >&2; exit 2 ;;'
  echo 'esac'
} >"$dir/pg_ctl.sh"
chmod 755 "$dir/pg_ctl.sh"

export BABYSEA_TEST_PG="host=$dir port=5432 user=postgres dbname=postgres"
export BABYSEA_TEST_PG_CTL="$dir/pg_ctl.sh"
"$@"
