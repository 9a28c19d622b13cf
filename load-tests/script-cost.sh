#!/usr/bin/env bash
# Redis's own CPU per call of the two scripts every message runs, called the way the node calls
# them, on a fresh redis-server per run (no load generator or node sharing the figure):
#
#   load-tests/script-cost.sh [record|accept ...]     (default: both; ROUNDS=3, CALLS=100000)
#
# record: the success of a stream entry's only job (src/queue/record.rs, tier 1 of
#   scripts/record_attempt.lua); accept: a 1 KB message without uid, Idempotency-Key or
#   ordering key (src/store/messages.rs). The arguments below mirror what those two files pass:
#   change them together. redis-benchmark pipelines 16 calls on each of 4 connections;
#   __rand_int__ gives each call its own message and log member. Prints, per run, Redis CPU
#   (utime+stime from /proc) per call and used_memory per call.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-redis.sh
shapes=("$@"); [ ${#shapes[@]} -eq 0 ] && shapes=(record accept)
calls=${CALLS:-100000}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d); trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
P='octohooks:{p.12}'; A=3f2a6c1e-8a0b-4c1d-9e2f-0123456789ab; E=7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
M=9d8c7b6a-5e4f-4321-8765-43210fedcba9
attempt='{"endpointId":"7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0","attempt":1,"timestamp":1795976501692,"status":"success","responseStatusCode":200,"error":null,"durationMs":3,"responseBody":null,"nextAttempt":null}'
payload=$(python3 -c "print('{\"data\":\"' + 'x'*1010 + '\"}')")
task="f|$A|$M|1795976501692"

run() { # shape
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --daemonize yes --pidfile "$work/redis.pid" --loglevel warning >/dev/null
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local pid; pid=$(cat "$work/redis.pid")
  r() { redis-cli -p "$port" "$@" >/dev/null; }
  r SET "$P:lease" tok; r HSET "$P:ep:$E" url x; r HSET "$P:msg:$M" id x; r HSET "$P:app:$A" org acme
  r HSET "$P:ep:$E:health" consecutiveFailures 0 lastSuccess 99999999999999
  local args sha
  case $1 in
    record)
      sha=$(redis-cli -p "$port" script load "$(cat src/queue/scripts/record_attempt.lua)")
      args=(EVALSHA "$sha" 9 "$P:lease" "$P:msg:$M:attempts" "$P:msg:$M" "$P:ep:$E" "$P:ep:$E:health"
        "$P:ep:$E:log" "$P:ep:$E:stats" "$P:stream" "$P:done:1795976501692-0"
        tok success 1795976501692 604800 "$attempt" __rand_int__ "$M:" ":s" ""
        h12 498882 d23 20786 ack 1795976501692-0 octohooks "$E" 604800) ;;
    accept)
      sha=$(redis-cli -p "$port" script load "$(cat src/store/scripts/message_create.lua)")
      args=(EVALSHA "$sha" 6 "$P:app:$A" "$P:msg:__rand_int__" "$P:app:$A:msgs" "$P:msg:__rand_int__"
        "$P:stream" "$P:msg:__rand_int__"
        __rand_int__ "1795976501692:__rand_int__" 604800 "" "" t "$task" acme ""
        id __rand_int__ app "$A" eventType user.created channels '[]' payload "$payload"
        created 1795976501692) ;;
    *) echo "unknown shape $1 (record, accept)" >&2; exit 2 ;;
  esac
  local before after mem
  before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  redis-benchmark -p "$port" -n "$calls" -P 16 -c 4 -r 100000000 -q "${args[@]}" >/dev/null
  after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  mem=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
  # A script error would make every call cheap: count what the calls wrote.
  local written
  if [ "$1" = record ]; then written=$(redis-cli -p "$port" llen "$P:msg:$M:attempts")
  else written=$(redis-cli -p "$port" xlen "$P:stream"); fi
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  [ "$written" -eq "$calls" ] || { echo "$1: $written of $calls calls wrote their record" >&2; exit 1; }
  python3 -c "print(f'$1: {($after-$before)*10000/$calls:.1f} us of Redis CPU per call, used_memory {$mem/$calls:.0f} B per call')"
}
for _ in $(seq "${ROUNDS:-3}"); do for s in "${shapes[@]}"; do run "$s"; done; done
