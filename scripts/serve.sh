#!/usr/bin/env bash
# Runs Octohooks (API + worker) on this machine with a working default configuration:
# installs and starts Redis when needed, builds the release binary, prints how to call it.
#
# Environment: OCTOHOOKS__* variables override config/default.toml, e.g.
#   OCTOHOOKS__SERVER__BIND=0.0.0.0:8080 ./scripts/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-redis.sh

redis_url="${OCTOHOOKS__REDIS__URL:-redis://127.0.0.1:6379}"
if [ -z "${OCTOHOOKS__REDIS__URL:-}" ] && ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  mkdir -p .data
  # The production settings of the README: AOF every second, never evict.
  redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --dir "$PWD/.data" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
    --logfile "$PWD/.data/redis.log"
  for _ in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "started redis-server on 127.0.0.1:6379 (data in .data/)"
fi

if [ -z "${OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN:-}" ]; then
  mkdir -p .data
  [ -s .data/bootstrap-token ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > .data/bootstrap-token
  export OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN="$(cat .data/bootstrap-token)"
fi

cargo build --release --quiet
bind="${OCTOHOOKS__SERVER__BIND:-127.0.0.1:8080}"
cat <<MSG
Octohooks is starting (API + worker), Redis at $redis_url.
Authenticate with:  Authorization: Bearer $OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN   (organisation "default")
Try:                curl -H "Authorization: Bearer $OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN" http://$bind/api/v1/applications
More tokens:        ./target/release/octohooks token create --org acme
Stop with Ctrl-C (graceful).
MSG
exec ./target/release/octohooks serve "$@"
