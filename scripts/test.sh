#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, unit tests, the integration tests
# (which start their own redis-server on a free port), and a bounded schemathesis run against
# the OpenAPI document. Installs redis-server (apt) and the Python tools (pip) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-redis.sh

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --lib --bins --tests -- --test-threads "${TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# The OpenAPI document is validated and the live API fuzzed against it (bounded, ~30 s).
fuzz=0
./scripts/fuzz-api.sh || fuzz=$?
echo "openapi fuzz: $([ "$fuzz" = 0 ] && echo passed || echo FAILED)"
[ "$fuzz" = 0 ] || status=1
# One closing line over every test binary (cargo prints one result line per binary).
echo
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
