#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, unit tests, and the integration tests
# (which start their own redis-server on a free port). Installs redis-server when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-redis.sh

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test -- --test-threads "${TEST_THREADS:-4}"
