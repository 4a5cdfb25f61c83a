#!/usr/bin/env bash
# Runs a command against a private Redis started for it alone:
#   scripts/with_redis.sh <command...>
# A fresh temp dir, a server listening only on a Unix socket in that dir
# (port 0: no TCP), no persistence (no RDB, no AOF), BABYSEA_TEST_REDIS
# exported as its URL (redis+unix://<dir>/redis.sock), then the command; the
# server is stopped and the dir removed on exit, failure included. Redis runs
# as root without complaint, so unlike with_postgres.sh no other user is
# needed. The server binaries come from REDIS_BIN (default: the directory of
# redis-server on PATH; scripts/deps.sh installs redis-server).
#
# A test may crash and restart the server: BABYSEA_TEST_REDIS_CTL names a
# helper (a script in the temp dir) taking one argument:
#   "$BABYSEA_TEST_REDIS_CTL" stop    SIGKILL to the server: a crash (every
#                                     client cut off, every key lost)
#   "$BABYSEA_TEST_REDIS_CTL" start   starts it again on the same socket,
#                                     waiting until it answers PING
# Exit status: the command's. The server is stopped on exit whatever state a
# test left it in.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 <command...>" >&2
  exit 2
fi

if [[ -z "${REDIS_BIN:-}" ]]; then
  REDIS_BIN=$(dirname "$(command -v redis-server 2>/dev/null || echo redis-server)")
fi
if [[ ! -x "${REDIS_BIN}/redis-server" || ! -x "${REDIS_BIN}/redis-cli" ]]; then
  echo "with_redis.sh: redis-server/redis-cli not found (install redis-server; see scripts/deps.sh)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/babysea-redis.XXXXXX)
chmod 700 "$dir"
sock="$dir/redis.sock"
pidfile="$dir/redis.pid"
started=0
watchdog=
cleanup() {
  local rc=$?
  [[ -n "$watchdog" ]] && kill "$watchdog" 2>/dev/null || true
  if [[ $started -eq 1 && -s "$pidfile" ]]; then
    kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The stop/start helper (see the top). start: daemonized server writing its
# pid file, then PING until PONG (up to 30 s). stop: SIGKILL by pid file,
# then wait for the process to be gone.
{
  echo '#!/usr/bin/env bash'
  echo 'set -u'
  printf 'dir=%q\nsock=%q\npidfile=%q\nbin=%q\n' "$dir" "$sock" "$pidfile" "$REDIS_BIN"
  cat <<'HELPER'
stop() {
  [[ -s "$pidfile" ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill -9 "$pid" 2>/dev/null || true
  # Gone, or a zombie nobody has reaped yet (the daemon's parent is init).
  for _ in $(seq 1 300); do
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in "" | Z*) break ;; esac
    sleep 0.1
  done
  rm -f "$pidfile" "$sock"
}
start() {
  "$bin/redis-server" --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" \
    --save '' --appendonly no --daemonize yes --pidfile "$pidfile" --logfile "$dir/server.log" \
    --maxclients 1000 >/dev/null || { cat "$dir/server.log" >&2; return 1; }
  for _ in $(seq 1 300); do
    [[ "$("$bin/redis-cli" -s "$sock" ping 2>/dev/null)" == PONG ]] && return 0
    sleep 0.1
  done
  echo "with_redis.sh: server did not answer PING" >&2
  cat "$dir/server.log" >&2
  return 1
}
case "${1:-}" in
  stop) stop ;;
  start) start ;;
  *) echo "usage: $0 stop|start" >&2; exit 2 ;;
esac
HELPER
} >"$dir/redis_ctl.sh"
chmod 755 "$dir/redis_ctl.sh"

started=1
"$dir/redis_ctl.sh" start

# A SIGKILL (a test runner's timeout) skips the trap above: a watchdog in
# its own session, holding none of our output, stops the server and removes
# the dir once this shell is gone.
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$0/redis_ctl.sh" stop >/dev/null 2>&1; rm -rf "$0"' \
  "$dir" $$ </dev/null >/dev/null 2>&1 &
watchdog=$!

export BABYSEA_TEST_REDIS="redis+unix://$sock"
export BABYSEA_TEST_REDIS_CTL="$dir/redis_ctl.sh"
"$@"
