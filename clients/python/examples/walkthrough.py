"""The walk-through in Python (pip install ./clients/python). Needs a running server and a
receiver, e.g. `octohooks listen --port 9000 --secret whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`."""
import os
import time
import uuid

from octohooks import Octohooks

client = Octohooks(os.environ.get("OCTOHOOKS_URL", "http://127.0.0.1:8080"), os.environ["OCTOHOOKS_TOKEN"])
receiver = os.environ.get("RECEIVER_URL", "http://127.0.0.1:9000/webhooks")

# An application per customer, addressed by its id or your own uid
app = client.create_application({"name": "My App", "uid": "my-app"})
print("application", client.get_application("my-app")["id"])

# An endpoint: where its webhooks go, signed with this secret
client.create_endpoint("my-app", {
    "name": "My Endpoint", "uid": "my-endpoint", "url": receiver, "eventTypes": ["user.created"],
    "secrets": ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
})

# A message, accepted once (retry safely with the same idempotency key)
message = client.create_message(
    "my-app",
    {"eventType": "user.created", "uid": "evt-1", "payload": {"email": "john@example.com"}},
    idempotency_key=str(uuid.uuid4()),
)

# Its delivery attempts (wait for the first one)
while not any(a["status"] == "success" for a in client.list_attempts("my-app", "evt-1").data):
    time.sleep(0.2)
print("messages", [m["id"] for m in client.list_messages("my-app", event_type="user.created", limit=10).data])

# Resend it (wait for it in the endpoint's log), see the stats
client.resend_message("my-app", "evt-1", "my-endpoint")
while len(client.list_endpoint_attempts("my-app", "my-endpoint", status="success").data) < 2:
    time.sleep(0.2)
print("stats", client.get_endpoint_stats("my-app", "my-endpoint")["hourly"][-1])

# Pause and resume the endpoint, rotate its secret (the old one signs for an hour more)
client.pause_endpoint("my-app", "my-endpoint")
client.resume_endpoint("my-app", "my-endpoint")
client.rotate_endpoint_secret("my-app", "my-endpoint", {"gracePeriodSeconds": 3600})

# A customer portal link for this application
print("portal", client.create_portal_link("my-app", {"expiresIn": 3600})["url"])

# Clean up: deleting an application deletes its endpoints, messages and pending work
client.delete_application("my-app")
