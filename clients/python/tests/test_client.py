"""The Python client against a live server (OCTOHOOKS_URL, OCTOHOOKS_TOKEN; deliveries go to
OCTOHOOKS_RECEIVER, a receiver answering 2xx). Run: python3 -m unittest discover clients/python/tests
"""

import os
import time
import unittest
import uuid

from octohooks import OPERATIONS, ApiError, Octohooks

URL = os.environ.get("OCTOHOOKS_URL", "http://127.0.0.1:8080")
TOKEN = os.environ.get("OCTOHOOKS_TOKEN", "")
RECEIVER = os.environ.get("OCTOHOOKS_RECEIVER", "")


def eventually(check, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.client = Octohooks(URL, TOKEN)
        self.uid = f"py-{uuid.uuid4().hex[:12]}"

    def test_implements_every_documented_operation(self):
        document = self.client.get_open_api_document()
        documented = {
            (op["operationId"], method.upper(), path)
            for path, item in document["paths"].items()
            for method, op in item.items()
        }
        implemented = {(op, method, path) for op, (method, path) in OPERATIONS.items()}
        self.assertEqual(implemented, documented)
        for operation in OPERATIONS:
            name = "".join("_" + c.lower() if c.isupper() else c for c in operation)
            self.assertTrue(callable(getattr(self.client, name, None)), name)

    def test_a_message_is_delivered_and_resent(self):
        c = self.client
        app = c.create_application({"name": "Python", "uid": self.uid}, idempotency_key=self.uid)
        self.assertEqual(c.create_application({"name": "Python", "uid": self.uid}, idempotency_key=self.uid), app)
        self.assertEqual(c.get_application(self.uid)["id"], app["id"])
        endpoint = c.create_endpoint(self.uid, {"name": "hooks", "url": RECEIVER, "uid": "hooks"})
        self.assertTrue(c.get_endpoint_secret(self.uid, "hooks")["key"].startswith("whsec_"))
        message = c.create_message(self.uid, {"eventType": "user.created", "payload": {"id": 1}, "uid": "m1"})
        attempts = eventually(
            lambda: [a for a in c.list_attempts(self.uid, "m1").data if a["status"] == "success"],
            "the delivery",
        )
        self.assertEqual(attempts[0]["endpointId"], endpoint["id"])
        page = c.list_messages(self.uid, event_type="user.created", limit=1)
        self.assertEqual([m["id"] for m in page.data], [message["id"]])
        self.assertIsNone(page.iterator)
        c.resend_message(self.uid, "m1", "hooks")
        eventually(lambda: len(c.list_attempts(self.uid, "m1").data) == 2, "the resent delivery")
        self.assertTrue(c.pause_endpoint(self.uid, "hooks")["paused"])
        self.assertFalse(c.resume_endpoint(self.uid, "hooks")["paused"])
        self.assertEqual(len(c.rotate_endpoint_secret(self.uid, "hooks", {"gracePeriodSeconds": 60})["secrets"]), 2)
        stats = c.get_endpoint_stats(self.uid, "hooks")
        self.assertEqual(sum(b["success"] for b in stats["hourly"]), 2)
        self.assertEqual(len(c.list_endpoint_attempts(self.uid, "hooks", status="success").data), 2)
        link = c.create_portal_link(self.uid, {"readOnly": True})
        self.assertIn("/portal#token=", link["url"])
        c.delete_application(self.uid)
        with self.assertRaises(ApiError) as missing:
            c.get_application(self.uid)
        self.assertEqual((missing.exception.status, missing.exception.code), (404, "not_found"))

    def test_catalogue_send_example_erasure_and_operational_endpoints(self):
        c = self.client
        name = f"{self.uid}.created"
        schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
        made = c.create_event_type({"name": name, "description": "Made", "schema": schema, "example": {"id": 7}})
        self.assertEqual((made["name"], made["archived"]), (name, False))
        self.assertEqual(c.get_event_type(name)["example"], {"id": 7})
        self.assertEqual(c.update_event_type(name, {"schema": schema, "example": {"id": 8}})["example"], {"id": 8})
        self.assertIn(name, [t["name"] for t in c.list_event_types(limit=250).data])

        c.create_application({"name": "Python catalogue", "uid": self.uid})
        with self.assertRaises(ApiError) as invalid:
            c.create_message(self.uid, {"eventType": name, "payload": {"id": "x"}, "validate": True})
        self.assertEqual(invalid.exception.code, "validation_error")
        c.create_endpoint(self.uid, {"name": "hooks", "url": RECEIVER, "uid": "hooks"})
        example = c.send_example(self.uid, "hooks", name)
        self.assertEqual((example["eventType"], example["payload"]), (name, {"id": 8}))
        eventually(lambda: [a for a in c.list_attempts(self.uid, example["id"]).data if a["status"] == "success"],
                   "the example's delivery")
        self.assertIsNone(c.erase_message_content(self.uid, example["id"])["payload"])
        job = c.erase_messages(self.uid, {"uidPrefix": "none-"})
        done = eventually(lambda: c.get_erasure_job(self.uid, job["id"])["status"] == "done", "the erasure job")
        self.assertTrue(done)
        self.assertEqual(c.delete_event_type(name)["name"], name)

        ops = c.create_operational_endpoint({"name": f"ops {self.uid}", "url": RECEIVER})
        self.assertEqual(c.get_operational_endpoint(ops["id"])["url"], RECEIVER)
        renamed = c.update_operational_endpoint(ops["id"], {"name": "renamed", "url": RECEIVER})
        self.assertEqual(renamed["name"], "renamed")
        self.assertIn(ops["id"], [e["id"] for e in c.list_operational_endpoints(limit=250).data])
        self.assertEqual(c.delete_operational_endpoint(ops["id"])["id"], ops["id"])
        c.delete_application(self.uid)

    def test_errors_carry_the_api_code(self):
        with self.assertRaises(ApiError) as invalid:
            self.client.create_application({"name": ""})
        self.assertEqual(invalid.exception.code, "validation_error")
        with self.assertRaises(ApiError) as unauthorized:
            Octohooks(URL, "oh_wrong").list_applications()
        self.assertEqual(unauthorized.exception.status, 401)

    def test_tokens_and_sessions(self):
        c = self.client
        made = c.create_token({"name": f"python {self.uid}"})
        self.assertIsInstance(Octohooks(URL, made["token"]).list_applications().data, list)
        self.assertIn(made["id"], [t["id"] for t in c.list_tokens(limit=250).data])
        c.revoke_token(made["id"])
        session = c.create_session()
        self.assertTrue(session["cookie"])
        self.assertEqual(c.get_session(session)["org"], session["session"]["org"])
        c.delete_session(session)
        with self.assertRaises(ApiError) as gone:
            c.get_session(session)
        self.assertEqual(gone.exception.code, "unauthorized")


if __name__ == "__main__":
    unittest.main()
