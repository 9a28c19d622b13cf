#!/usr/bin/env bash
# Redis's own CPU per record of the two scripts every message runs, called the way the node calls
# them, on a fresh redis-server per run (no load generator or node sharing the figure):
#
#   load-tests/script-cost.sh [record|record-batch|record-fanout|accept ...]
#                (default: all four; ROUNDS=3, CALLS=100000, BATCH=16, FANOUT=8)
#
# record: the success of a stream entry's only job (src/queue/record.rs, tier 1 of
#   scripts/record_attempt.lua); record-batch: BATCH such successes, each of its own partition,
#   message and endpoint, in one call of scripts/record_successes.lua (a thread's group commit
#   under load; figures per success, CALLS successes in all); record-fanout: BATCH successes of
#   one partition in one call, FANOUT endpoints for each message (jobs of entries with several,
#   marked in their done sets: fan-out); accept: a 1 KB message without uid, Idempotency-Key or
#   ordering key, for an application with an endpoint (src/store/messages.rs). The arguments
#   below mirror what those two files pass: change them together. redis-benchmark pipelines 16
#   calls on each of 4 connections; __rand_int__ gives each call its own message and log
#   member. Prints, per run, Redis CPU (utime+stime from /proc) per record (a call, or a
#   success in a batch) and used_memory per record.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-redis.sh
shapes=("$@"); [ ${#shapes[@]} -eq 0 ] && shapes=(record record-batch record-fanout accept)
batch=${BATCH:-16}
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
  r ZADD "$P:app:$A:eps" 0 "$E" # the application has an endpoint, so an accept queues its message
  r HSET "$P:ep:$E:health" consecutiveFailures 0 lastSuccess 99999999999999
  local args sha per=1 lists=("$P:msg:$M:attempts")
  case $1 in
    record)
      sha=$(redis-cli -p "$port" script load "$(cat src/queue/scripts/record_{common,attempt}.lua)")
      args=(EVALSHA "$sha" 9 "$P:lease" "$P:msg:$M:attempts" "$P:msg:$M" "$P:ep:$E" "$P:ep:$E:health"
        "$P:ep:$E:log" "$P:ep:$E:stats" "$P:stream" "$P:done:1795976501692-0"
        tok success 1795976501692 604800 "$attempt" __rand_int__ "$M:" ":s" ""
        h12 498882 d23 20786 ack 1795976501692-0 octohooks "$E" 604800) ;;
    record-batch)
      per=$batch
      sha=$(redis-cli -p "$port" script load "$(cat src/queue/scripts/record_{common,successes}.lua)")
      local keys=() records=(); lists=()
      for i in $(seq "$batch"); do
        local p="octohooks:{p.$i}" m="$M-$i" e="$E-$i"
        r SET "$p:lease" tok; r HSET "$P:msg:$m" id x; r HSET "$P:ep:$e" url x
        r HSET "$P:ep:$e:health" consecutiveFailures 0 lastSuccess 99999999999999
        keys+=("$p:lease" "$P:msg:$m:attempts" "$P:msg:$m" "$P:ep:$e" "$P:ep:$e:health" "$P:ep:$e:log"
          "$P:ep:$e:stats" "$p:stream" "$p:done:1795976501692-0")
        records+=(tok "$attempt" __rand_int__ "$m:" "" ack 1795976501692-0 "$e")
        lists+=("$P:msg:$m:attempts")
      done
      args=(EVALSHA "$sha" $((batch * 9)) "${keys[@]}" 1795976501692 604800 h12 498882 d23 20786 :s
        octohooks 604800 "${records[@]}") ;;
    record-fanout)
      per=$batch
      sha=$(redis-cli -p "$port" script load "$(cat src/queue/scripts/record_{common,successes}.lua)")
      local keys=() records=() fanout=${FANOUT:-8}; lists=()
      for i in $(seq 0 $((batch - 1))); do
        local m="$M-$((i / fanout))" e="$E-$((i % fanout))" entry="1795976501692-$((i / fanout))"
        r HSET "$P:msg:$m" id x; r HSET "$P:ep:$e" url x
        r HSET "$P:ep:$e:health" consecutiveFailures 0 lastSuccess 99999999999999
        keys+=("$P:lease" "$P:msg:$m:attempts" "$P:msg:$m" "$P:ep:$e" "$P:ep:$e:health" "$P:ep:$e:log"
          "$P:ep:$e:stats" "$P:stream" "$P:done:$entry")
        records+=(tok "$attempt" __rand_int__ "$m:" "" mark "$entry" "$e")
        [ $((i % fanout)) = 0 ] && lists+=("$P:msg:$m:attempts")
      done
      args=(EVALSHA "$sha" $((batch * 9)) "${keys[@]}" 1795976501692 604800 h12 498882 d23 20786 :s
        octohooks 604800 "${records[@]}") ;;
    accept)
      sha=$(redis-cli -p "$port" script load "$(cat src/store/scripts/message_create.lua)")
      args=(EVALSHA "$sha" 7 "$P:app:$A" "$P:msg:__rand_int__" "$P:app:$A:msgs" "$P:msg:__rand_int__"
        "$P:stream" "$P:msg:__rand_int__" "$P:app:$A:eps"
        __rand_int__ "1795976501692:__rand_int__" 604800 "" "" t "$task" acme "" 1
        id __rand_int__ app "$A" eventType user.created channels '[]' payload "$payload"
        created 1795976501692) ;;
    *) echo "unknown shape $1 (record, record-batch, record-fanout, accept)" >&2; exit 2 ;;
  esac
  local before after mem
  before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  redis-benchmark -p "$port" -n $((calls / per)) -P "${PIPELINE:-16}" -c 4 -r 100000000 -q "${args[@]}" >/dev/null
  after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  mem=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
  # A script error would make every call cheap: count what the calls wrote.
  local written
  if [ "$1" != accept ]; then
    written=0
    for list in "${lists[@]}"; do written=$((written + $(redis-cli -p "$port" llen "$list"))); done
  else written=$(redis-cli -p "$port" xlen "$P:stream"); fi
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  # (redis-benchmark may send a few calls more than asked, to fill its last pipelines.)
  local expected=$((calls / per * per))
  [ "$written" -ge "$expected" ] || { echo "$1: $written of $expected records written" >&2; exit 1; }
  python3 -c "print(f'$1: {($after-$before)*10000/$written:.1f} us of Redis CPU per record, used_memory {$mem/$written:.0f} B per record')"
}
for _ in $(seq "${ROUNDS:-3}"); do for s in "${shapes[@]}"; do run "$s"; done; done
