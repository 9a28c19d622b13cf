#!/usr/bin/env bash
# The browser tests (tests/browser/test_dashboard.py) against a live server: run by
# scripts/test.sh through scripts/with-live-server.sh. Uses the system's Chromium
# (apt-get install chromium, when missing) driven by Playwright for Python (pip install
# playwright when missing, else in a venv under target/; Playwright's own browser downloads
# are never used). Screenshots of every page go to SCREENSHOTS (default
# target/browser-screenshots), printed at the start. Ends with a `stage result:` line.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export SCREENSHOTS=${SCREENSHOTS:-$ROOT/target/browser-screenshots}

if [ ! -x "$CHROMIUM" ]; then
  echo "chromium not found; installing it with apt-get" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] || CHROMIUM=$(command -v chromium || true)
  [ -n "$CHROMIUM" ] || { echo "stage result: browser: 0 passed; 1 failed (no chromium)"; exit 1; }
fi

PYTHON=python3
if ! $PYTHON -c 'import playwright.sync_api' 2>/dev/null; then
  venv="$ROOT/target/browser-venv"
  if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import playwright.sync_api' 2>/dev/null; then
    PYTHON="$venv/bin/python3"
  elif python3 -m pip install --quiet --disable-pip-version-check playwright 2>/dev/null; then
    :
  else
    python3 -m venv "$venv" && "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check playwright &&
      PYTHON="$venv/bin/python3"
  fi
  $PYTHON -c 'import playwright.sync_api' 2>/dev/null ||
    { echo "stage result: browser: 0 passed; 1 failed (cannot install playwright)"; exit 1; }
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd tests/browser && $PYTHON -m unittest -v test_dashboard) 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
ran=$(sed -n 's/^Ran \([0-9]*\) tests\?.*/\1/p' "$log")
failed=$(grep -cE '^(FAIL|ERROR):' "$log")
echo "stage result: browser: $((${ran:-0} - failed)) passed; $failed failed"
exit "$status"
