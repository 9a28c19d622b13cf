#!/usr/bin/env bash
# The walk-through with curl. Needs a running server and a receiver, e.g.
#   ./target/release/octohooks listen --port 9000 --secret whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD
set -euo pipefail
API=${OCTOHOOKS_URL:-http://127.0.0.1:8080}/api/v1
AUTH="Authorization: Bearer ${OCTOHOOKS_TOKEN:-$(cat .data/bootstrap-token)}"
RECEIVER=${RECEIVER_URL:-http://127.0.0.1:9000/webhooks}
call() { curl -sS --fail-with-body -H "$AUTH" -H 'Content-Type: application/json' "$@"; echo; }

# An application per customer, addressed by its id or your own uid
call -X POST $API/applications -d '{"name": "My App", "uid": "my-app"}'
call $API/applications/my-app

# An endpoint: where its webhooks go, signed with this secret
call -X POST $API/applications/my-app/endpoints -d '{"name": "My Endpoint", "uid": "my-endpoint",
  "url": "'$RECEIVER'", "eventTypes": ["user.created"],
  "secrets": ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]}'

# A message, accepted once (retry safely with the same Idempotency-Key)
call -X POST $API/applications/my-app/messages -H "Idempotency-Key: evt-1-$RANDOM" \
  -d '{"eventType": "user.created", "uid": "evt-1", "payload": {"email": "john@example.com"}}'

# Its delivery attempts (wait for the first one)
until curl -sS -H "$AUTH" $API/applications/my-app/messages/evt-1/attempts | grep -q '"status":"success"'; do
  sleep 0.2
done
call "$API/applications/my-app/messages?eventType=user.created&limit=10"

# Resend it (wait for it in the endpoint's log), see the stats
call -X POST $API/applications/my-app/messages/evt-1/endpoints/my-endpoint/resend
until [ "$(curl -sS -H "$AUTH" "$API/applications/my-app/endpoints/my-endpoint/attempts?status=success" |
  grep -o '"status":"success"' | wc -l)" = 2 ]; do
  sleep 0.2
done
call "$API/applications/my-app/endpoints/my-endpoint/attempts?status=success"
call $API/applications/my-app/endpoints/my-endpoint/stats

# Pause and resume the endpoint, rotate its secret (the old one signs for an hour more)
call -X POST $API/applications/my-app/endpoints/my-endpoint/pause
call -X POST $API/applications/my-app/endpoints/my-endpoint/resume
call -X POST $API/applications/my-app/endpoints/my-endpoint/secret/rotate -d '{"gracePeriodSeconds": 3600}'

# A customer portal link for this application
call -X POST $API/applications/my-app/portal-link -d '{"expiresIn": 3600}'

# Clean up: deleting an application deletes its endpoints, messages and pending work
call -X DELETE $API/applications/my-app
