#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, unit tests, the integration tests
# (which start their own redis-server on a free port), and a bounded schemathesis run against
# the OpenAPI document, then the client libraries, the README's walk-throughs and the browser
# tests against live servers. Installs redis-server and chromium (apt), the Python tools and
# Playwright (pip) and TypeScript (npm) when missing.
# The fuzzing seed is fixed per run and printed (FUZZ_SEED=N replays it). Fails when no test
# ran at all.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
./scripts/ensure-redis.sh

# The integration tests also verify deliveries with the official `standardwebhooks` Python
# package (through `python3`), and fail when it cannot run: install it, with pip, else pip
# --user, else in a venv put first on PATH (when the system Python refuses pip installs,
# PEP 668). Quiet unless nothing works, which stops the run.
if ! python3 -c 'import standardwebhooks' 2>/dev/null; then
  venv="$ROOT/target/test-venv"
  pip_log="$(mktemp)"
  if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import standardwebhooks' 2>/dev/null; then
    export PATH="$venv/bin:$PATH"
  elif python3 -m pip install --quiet --disable-pip-version-check standardwebhooks >"$pip_log" 2>&1 ||
    python3 -m pip install --quiet --disable-pip-version-check --user standardwebhooks >>"$pip_log" 2>&1; then
    :
  elif python3 -m venv --system-site-packages "$venv" >>"$pip_log" 2>&1 &&
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check standardwebhooks >>"$pip_log" 2>&1; then
    export PATH="$venv/bin:$PATH"
  fi
  python3 -c 'import standardwebhooks' 2>/dev/null || {
    echo "error: cannot install the Python package standardwebhooks, which the tests need" >&2
    tail -n 5 "$pip_log" >&2
    exit 1
  }
  rm -f "$pip_log"
fi

# One build, never edited again: the incremental cache would only take disk (gigabytes).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --lib --bins --tests -- --test-threads "${TEST_THREADS:-4}" --skip chaos:: 2>&1 | tee "$log" || status=$?
# The chaos suite (Redis stopped, filled and cut, workers frozen and killed, 100k parked
# deliveries) runs on its own, two at a time: its load would starve the timing of the others.
cargo test --test it -- --test-threads 2 chaos:: 2>&1 | tee -a "$log" || status=$?
# The OpenAPI document is validated and the live API fuzzed against it (bounded, ~30 s), with
# one seed per run: FUZZ_SEED when set, else a random one, printed for replay.
if [ -z "${FUZZ_SEED:-}" ]; then FUZZ_SEED=$(($(od -An -N4 -tu4 /dev/urandom) % 2147483647)); fi
export FUZZ_SEED
echo "fuzz seed: $FUZZ_SEED (replay with FUZZ_SEED=$FUZZ_SEED)"
fuzz=0
./scripts/fuzz-api.sh || fuzz=$?
echo "openapi fuzz: $([ "$fuzz" = 0 ] && echo passed || echo "FAILED (replay with FUZZ_SEED=$FUZZ_SEED)")"
[ "$fuzz" = 0 ] || status=1
# The client libraries (Python, TypeScript), the README's walk-through in each language, and
# the dashboard and the portal in headless Chromium (tests/browser): short stages, each against
# its own live server (scripts/with-live-server.sh), each installing what it needs when
# missing and ending with a `stage result:` line.
for stage in clients/python/test.sh clients/typescript/test.sh clients/walkthroughs.sh tests/browser/run.sh; do
  echo "== stage $stage"
  ./scripts/with-live-server.sh "$stage" 2>&1 | tee -a "$log" || status=1
done
# One closing line over every test binary (cargo prints one result line per binary) and stage; a run
# in which no test passed (none ran, e.g. a build failure or a filter matching nothing) fails.
echo
awk '/^(test|stage) result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f; if (p == 0) { print "no test passed: failing the run"; exit 1 } }' "$log" ||
  status=1
exit "$status"
