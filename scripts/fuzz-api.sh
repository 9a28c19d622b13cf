#!/usr/bin/env bash
# Validates the served OpenAPI document and fuzzes the live API against it, in bounded time:
#   1. installs openapi-spec-validator and schemathesis (pip) when missing,
#   2. builds the debug binary, starts a throwaway redis-server and the API on free ports,
#   3. checks GET /api/v1/openapi.json with openapi-spec-validator,
#   4. runs schemathesis (every check, a bounded number of examples per operation; settings
#      in scripts/fuzz-api.toml, hooks in scripts/fuzz-api-hooks.py),
#   5. stops everything. Quiet on success; prints the findings and exits 1 on failure.
#
# The node runs the API role only: schemathesis invents endpoint URLs (public addresses
# included) and a worker would try to deliver messages to them; this run sends traffic to
# 127.0.0.1 only. Delivery behaviour is covered by tests/it.
#
# Knobs: FUZZ_MAX_EXAMPLES (default 20), FUZZ_SEED (default: a random seed, printed as
# `fuzz seed: N (replay with FUZZ_SEED=N)` and repeated on failure), FUZZ_TIMEOUT (seconds
# for the schemathesis run, default 150), FUZZ_WORKERS (default 1: with more, schemathesis
# 4.32 on Python 3.11 sometimes crashes in ast.parse), FUZZ_VERBOSE=1 (print the full run).
# Bounded: ~15 s plus `cargo build` (quick once the tests have built the binary). The binary
# is taken from $CARGO_TARGET_DIR when set, where cargo builds it (default ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-20}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-150}
WORKERS=${FUZZ_WORKERS:-1}
SCHEMATHESIS_REQ="schemathesis>=4.32,<5"
VALIDATOR_REQ="openapi-spec-validator>=0.7,<1"
TOKEN="fuzz-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

VENV="$ROOT/target/fuzz-venv"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/octohooks-fuzz.XXXXXX")
REDIS_PID=""
SERVER_PID=""
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ]; then wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$REDIS_PID" ]; then wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "fuzz-api: $1" >&2
  shift
  for log in "$@"; do
    if [ -s "$log" ]; then
      echo "----- $(basename "$log") -----" >&2
      tail -n 400 "$log" >&2
    fi
  done
  exit 1
}

# 1. Tools: on PATH already (schemathesis 4), or installed with pip, or in a private venv
#    when the system Python refuses pip installs (PEP 668).
tools_ok() {
  command -v openapi-spec-validator >/dev/null 2>&1 &&
    command -v schemathesis >/dev/null 2>&1 &&
    schemathesis --version 2>/dev/null | grep -q 'version 4\.'
}
if ! tools_ok; then
  if [ -x "$VENV/bin/schemathesis" ]; then
    PATH="$VENV/bin:$PATH"
  fi
fi
if ! tools_ok; then
  if ! python3 -m pip install --quiet --disable-pip-version-check \
    "$SCHEMATHESIS_REQ" "$VALIDATOR_REQ" >"$WORK/pip.log" 2>&1; then
    python3 -m venv "$VENV" >>"$WORK/pip.log" 2>&1 ||
      fail "cannot install schemathesis (pip and venv failed)" "$WORK/pip.log"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "$SCHEMATHESIS_REQ" "$VALIDATOR_REQ" >>"$WORK/pip.log" 2>&1 ||
      fail "cannot install schemathesis" "$WORK/pip.log"
    PATH="$VENV/bin:$PATH"
  fi
  hash -r
  tools_ok || fail "schemathesis 4 and openapi-spec-validator are not usable" "$WORK/pip.log"
fi
./scripts/ensure-redis.sh

# 2. Binary, Redis and the API on free ports.
cargo build --quiet --bin octohooks
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # what, command...
  local what=$1
  shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}
http_ok() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --maxmemory-policy noeviction --loglevel warning >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
wait_for redis redis-cli -p "$REDIS_PORT" ping || fail "redis-server did not start" "$WORK/redis.log"

API_PORT=$(free_port)
BASE="http://127.0.0.1:$API_PORT"
OCTOHOOKS__REDIS__URL="redis://127.0.0.1:$REDIS_PORT" \
  OCTOHOOKS__REDIS__PREFIX=fuzz \
  OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN="$TOKEN" \
  OCTOHOOKS__SERVER__BIND="127.0.0.1:$API_PORT" \
  OCTOHOOKS__SERVER__WORKERS=2 \
  OCTOHOOKS__LOG__LEVEL=warn \
  "${CARGO_TARGET_DIR:-./target}/debug/octohooks" api >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for api http_ok "$BASE/health" || fail "the API did not start" "$WORK/server.log"

# 3. The document.
http_ok "$BASE/api/v1/openapi.json" || fail "no document at /api/v1/openapi.json" "$WORK/server.log"
python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$BASE/api/v1/openapi.json" >"$WORK/openapi.json"
openapi-spec-validator "$WORK/openapi.json" >"$WORK/validator.log" 2>&1 ||
  fail "openapi-spec-validator rejects the document" "$WORK/validator.log"

# 4. Fuzzing (from a scratch directory: schemathesis and hypothesis write files there), after
#    creating the application, endpoint and message that scripts/fuzz-api.toml pins resends to,
#    and the application it pins erasures to.
post() { # path, JSON body
  python3 - "$BASE/api/v1$1" "$2" "$TOKEN" <<'PY'
import sys, urllib.request
url, body, token = sys.argv[1:]
request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=5).read()
PY
}
{
  post /applications '{"name": "fuzz", "uid": "fuzz-app"}' &&
    post /applications/fuzz-app/endpoints \
      '{"name": "fuzz", "uid": "fuzz-endpoint", "url": "http://127.0.0.1:9/never"}' &&
    post /applications/fuzz-app/messages \
      '{"eventType": "fuzz", "uid": "fuzz-message", "payload": {}}' &&
    post /applications '{"name": "fuzz erasures", "uid": "fuzz-erase-app"}'
} >"$WORK/fixtures.log" 2>&1 || fail "cannot create the fuzzing fixtures" "$WORK/fixtures.log"

# One seed per run, always passed and printed when chosen here, so a failure can be replayed.
SEED=${FUZZ_SEED:-}
if [ -z "$SEED" ]; then
  SEED=$(($(od -An -N4 -tu4 /dev/urandom) % 2147483647))
  echo "fuzz seed: $SEED (replay with FUZZ_SEED=$SEED)"
fi
set +e
(
  cd "$WORK"
  SCHEMATHESIS_HOOKS="$ROOT/scripts/fuzz-api-hooks.py" timeout --kill-after=10 "$FUZZ_TIMEOUT" \
    schemathesis --config-file "$ROOT/scripts/fuzz-api.toml" run "$BASE/api/v1/openapi.json" \
    --url "$BASE" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    --seed "$SEED"
) >"$WORK/schemathesis.log" 2>&1
STATUS=$?
set -e
if [ "$STATUS" = 124 ] || [ "$STATUS" = 137 ]; then
  fail "schemathesis did not finish within ${FUZZ_TIMEOUT}s (seed $SEED: replay with FUZZ_SEED=$SEED)" \
    "$WORK/schemathesis.log" "$WORK/server.log"
fi
if [ "$STATUS" != 0 ]; then
  fail "schemathesis found failures (exit $STATUS; replay with FUZZ_SEED=$SEED)" \
    "$WORK/schemathesis.log" "$WORK/server.log"
fi
if grep -qE 'panicked|internal error' "$WORK/server.log"; then
  fail "the API logged a panic or an internal error (replay with FUZZ_SEED=$SEED)" "$WORK/server.log"
fi
if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
  cat "$WORK/validator.log" "$WORK/schemathesis.log"
else
  summary=$(grep -E '^ *[0-9]+ generated' "$WORK/schemathesis.log" | tr -s ' ' | sed 's/^ //' || true)
  echo "fuzz-api: document valid; schemathesis: ${summary:-passed} (seed $SEED)"
fi
