#!/usr/bin/env bash
# The TypeScript client's tests against a live server (run by scripts/test.sh through
# scripts/with-live-server.sh, which sets OCTOHOOKS_URL, OCTOHOOKS_TOKEN, OCTOHOOKS_RECEIVER).
# Installs the one dev dependency (typescript, from npm, pinned by package-lock.json) when
# missing, compiles src/ to dist/ (tsc, strict) and runs test/ with node's own test runner.
# Ends with a `stage result:` line.
set -uo pipefail
cd "$(dirname "$0")"
if [ ! -x node_modules/.bin/tsc ]; then
  npm ci --no-audit --no-fund --loglevel=error || { echo "cannot install typescript (npm ci)" >&2; exit 1; }
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npm test --silent 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log")
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log")
[ -n "$passed" ] || { passed=0; failed=1; status=1; } # tsc failed: no test ran
echo "stage result: typescript client: $passed passed; $failed failed"
exit "$status"
