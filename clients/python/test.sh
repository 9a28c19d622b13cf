#!/usr/bin/env bash
# The Python client's tests against a live server (run by scripts/test.sh through
# scripts/with-live-server.sh, which sets OCTOHOOKS_URL, OCTOHOOKS_TOKEN, OCTOHOOKS_RECEIVER).
# Standard library only: nothing to install. Ends with a `stage result:` line.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
PYTHONPATH=. python3 -m unittest discover -s tests -v 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
ran=$(sed -n 's/^Ran \([0-9]*\) tests\?.*/\1/p' "$log")
failed=$(grep -cE '^(FAIL|ERROR):' "$log")
echo "stage result: python client: $((${ran:-0} - failed)) passed; $failed failed"
exit "$status"
