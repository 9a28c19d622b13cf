#!/usr/bin/env bash
# Runs a command against a live Octohooks, then stops everything it started:
#   scripts/with-live-server.sh COMMAND [ARGS...]
# Starts a throwaway redis-server, `octohooks serve` (API + worker, private addresses allowed
# so deliveries can go to 127.0.0.1) and `octohooks listen` (a receiver answering 200 and
# checking signatures with RECEIVER_SECRET), each on a free port, and gives the command:
#   OCTOHOOKS_URL, OCTOHOOKS_TOKEN (the organisation "default"), OCTOHOOKS_RECEIVER and
#   RECEIVER_URL (the receiver's URL), RECEIVER_SECRET, RECEIVER_LOG (what it printed),
#   OCTOHOOKS_BIN and OCTOHOOKS_REDIS_URL (to start more nodes on the same Redis).
# Used by scripts/test.sh for the client libraries, the README walk-throughs and the browser
# tests. The debug binary is taken from $CARGO_TARGET_DIR when set (default ./target) and
# built when missing. Prints the server's log when the command fails.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

BIN="${CARGO_TARGET_DIR:-./target}/debug/octohooks"
[ -x "$BIN" ] || cargo build --quiet --bin octohooks
BIN=$(realpath "$BIN")
export OCTOHOOKS_BIN="$BIN"
./scripts/ensure-redis.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/octohooks-live.XXXXXX")
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # what, log, command...
  local what=$1 log=$2
  shift 2
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "with-live-server: $what did not start" >&2
  tail -n 50 "$log" >&2
  exit 1
}
http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --maxmemory-policy noeviction --loglevel warning >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for redis-server "$WORK/redis.log" redis-cli -p "$redis_port" ping
export OCTOHOOKS_REDIS_URL="redis://127.0.0.1:$redis_port"

api_port=$(free_port)
export OCTOHOOKS_URL="http://127.0.0.1:$api_port"
export OCTOHOOKS_TOKEN="live-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
OCTOHOOKS__REDIS__URL="$OCTOHOOKS_REDIS_URL" \
  OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN="$OCTOHOOKS_TOKEN" \
  OCTOHOOKS__SERVER__BIND="127.0.0.1:$api_port" \
  OCTOHOOKS__SERVER__WORKERS=2 \
  OCTOHOOKS__WORKER__THREADS=1 \
  OCTOHOOKS__DELIVERY__ALLOW_PRIVATE_IPS=true \
  OCTOHOOKS__LOG__LEVEL=warn \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_for "octohooks serve" "$WORK/server.log" http_ok "$OCTOHOOKS_URL/health"

receiver_port=$(free_port)
export RECEIVER_SECRET="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
export RECEIVER_URL="http://127.0.0.1:$receiver_port/webhooks"
export OCTOHOOKS_RECEIVER="$RECEIVER_URL"
export RECEIVER_LOG="$WORK/receiver.log"
"$BIN" listen --port "$receiver_port" --secret "$RECEIVER_SECRET" >"$RECEIVER_LOG" 2>&1 &
PIDS+=($!)
wait_for "octohooks listen" "$RECEIVER_LOG" python3 -c \
  'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$receiver_port"

status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
  echo "----- octohooks serve (last lines) -----" >&2
  tail -n 40 "$WORK/server.log" >&2
fi
exit "$status"
