#!/usr/bin/env bash
# Runs the README's walk-through in each language, one after the other, against a live server
# (run by scripts/test.sh through scripts/with-live-server.sh, which sets OCTOHOOKS_URL,
# OCTOHOOKS_TOKEN, RECEIVER_URL and RECEIVER_LOG): curl, Python, JavaScript, Rust. Each one
# must finish, and the receiver (`octohooks listen --secret ...`) must have verified the
# signature of every delivery: two per walk-through (the message and its resend). The README
# must show each file as it is.
# The JavaScript one needs the TypeScript client built (clients/typescript/test.sh does).
# Ends with a `stage result:` line.
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
run() { # name, command...
  local name=$1
  shift
  echo "== walk-through: $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "walk-through $name FAILED" >&2; fi
}
run curl ./clients/curl/walkthrough.sh
run python env PYTHONPATH=clients/python python3 clients/python/examples/walkthrough.py
if [ -f clients/typescript/dist/index.js ] || (cd clients/typescript && { [ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build); then
  run javascript node clients/typescript/examples/walkthrough.mjs
else
  failed=$((failed + 1))
  echo "walk-through javascript: cannot build the client" >&2
fi
run rust cargo run --quiet -p octohooks-client --no-default-features --example walkthrough

verified=$(grep -c '^signature: verified' "$RECEIVER_LOG")
deliveries=$(grep -c '^──── delivery #' "$RECEIVER_LOG")
echo "receiver: $deliveries deliveries, $verified with a verified signature"
if [ "$deliveries" != $((2 * (passed + failed))) ] || [ "$verified" != "$deliveries" ]; then
  echo "expected $((2 * (passed + failed))) deliveries, every signature verified:" >&2
  cat "$RECEIVER_LOG" >&2
  failed=$((failed + 1))
fi
# The README shows these files as they are.
for file in clients/curl/walkthrough.sh clients/python/examples/walkthrough.py \
  clients/typescript/examples/walkthrough.mjs clients/rust/examples/walkthrough.rs; do
  if ! python3 -c 'import sys; sys.exit(open(sys.argv[1]).read().rstrip("\n") not in open("README.md").read())' "$file"; then
    echo "README.md does not show $file as it is: copy it into the README's Client libraries section" >&2
    failed=$((failed + 1))
  fi
done

echo "stage result: walk-throughs: $passed passed; $failed failed"
[ "$failed" = 0 ]
