"""Client of the Octohooks API: one method per operation of the OpenAPI document
(``GET /api/v1/openapi.json``), named after its ``operationId`` in snake_case.

Standard library only. Bodies and answers are plain dicts and lists in the API's camelCase
JSON; errors the API answers raise :class:`ApiError` with its stable ``code``.

    from octohooks import Octohooks
    client = Octohooks("http://127.0.0.1:8080", "oh_...")
    app = client.create_application({"name": "Acme", "uid": "acme"})
    client.create_message("acme", {"eventType": "user.created", "payload": {"id": 1}})
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

__all__ = ["Octohooks", "ApiError", "Page", "OPERATIONS"]

#: operationId -> (method, path template): every operation this client implements.
OPERATIONS = {
    "getHealth": ("GET", "/health"),
    "getMetrics": ("GET", "/metrics"),
    "getOpenApiDocument": ("GET", "/api/v1/openapi.json"),
    "getSession": ("GET", "/api/v1/auth/session"),
    "createSession": ("POST", "/api/v1/auth/session"),
    "deleteSession": ("DELETE", "/api/v1/auth/session"),
    "listTokens": ("GET", "/api/v1/tokens"),
    "createToken": ("POST", "/api/v1/tokens"),
    "revokeToken": ("DELETE", "/api/v1/tokens/{token_id}"),
    "listApplications": ("GET", "/api/v1/applications"),
    "createApplication": ("POST", "/api/v1/applications"),
    "getApplication": ("GET", "/api/v1/applications/{application_id}"),
    "updateApplication": ("PUT", "/api/v1/applications/{application_id}"),
    "deleteApplication": ("DELETE", "/api/v1/applications/{application_id}"),
    "createPortalLink": ("POST", "/api/v1/applications/{application_id}/portal-link"),
    "listEndpoints": ("GET", "/api/v1/applications/{application_id}/endpoints"),
    "createEndpoint": ("POST", "/api/v1/applications/{application_id}/endpoints"),
    "getEndpoint": ("GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"),
    "updateEndpoint": ("PUT", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"),
    "deleteEndpoint": ("DELETE", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}"),
    "listEndpointAttempts": ("GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/attempts"),
    "getEndpointStats": ("GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/stats"),
    "pauseEndpoint": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/pause"),
    "resumeEndpoint": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/resume"),
    "getEndpointSecret": ("GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret"),
    "rotateEndpointSecret": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret/rotate"),
    "testEndpointFilter": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/filter/test"),
    "recoverEndpoint": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover"),
    "getRecoveryJob": ("GET", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover/{job_id}"),
    "listMessages": ("GET", "/api/v1/applications/{application_id}/messages"),
    "createMessage": ("POST", "/api/v1/applications/{application_id}/messages"),
    "getMessage": ("GET", "/api/v1/applications/{application_id}/messages/{message_id}"),
    "listAttempts": ("GET", "/api/v1/applications/{application_id}/messages/{message_id}/attempts"),
    "resendMessage": ("POST", "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend"),
    "sendExample": ("POST", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/send-example"),
    "eraseMessageContent": ("DELETE", "/api/v1/applications/{application_id}/messages/{message_id}/content"),
    "eraseMessages": ("POST", "/api/v1/applications/{application_id}/messages/erase"),
    "getErasureJob": ("GET", "/api/v1/applications/{application_id}/messages/erase/{job_id}"),
    "listEventTypes": ("GET", "/api/v1/event-types"),
    "createEventType": ("POST", "/api/v1/event-types"),
    "getEventType": ("GET", "/api/v1/event-types/{event_type_name}"),
    "updateEventType": ("PUT", "/api/v1/event-types/{event_type_name}"),
    "deleteEventType": ("DELETE", "/api/v1/event-types/{event_type_name}"),
    "listOperationalEndpoints": ("GET", "/api/v1/operational-webhooks/endpoints"),
    "createOperationalEndpoint": ("POST", "/api/v1/operational-webhooks/endpoints"),
    "getOperationalEndpoint": ("GET", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"),
    "updateOperationalEndpoint": ("PUT", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"),
    "deleteOperationalEndpoint": ("DELETE", "/api/v1/operational-webhooks/endpoints/{endpoint_id}"),
}


class ApiError(Exception):
    """An error answer of the API: HTTP ``status``, stable ``code``, readable ``detail``."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass
class Page:
    """One page of a list; pass ``iterator`` to get the next (``None`` on the last)."""

    data: List[Dict[str, Any]]
    iterator: Optional[str]


class Octohooks:
    """A client of one Octohooks server, acting with one token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # ---- plumbing ----

    def _call(self, operation: str, params=(), body=None, query=None, idempotency_key=None, headers=None):
        method, template = OPERATIONS[operation]
        path = template
        for value in params:
            start = path.index("{")
            end = path.index("}", start)
            path = path[:start] + urllib.parse.quote(str(value), safe="") + path[end + 1:]
        url = self.base_url + path
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        sent = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        for name, value in (headers or {}).items():
            if value is None:
                sent.pop(name, None)  # e.g. no Authorization with a session cookie
            else:
                sent[name] = value
        request = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                parsed = json.loads(raw)
                raise ApiError(error.code, parsed.get("code", "http_error"), parsed.get("detail", "")) from None
            except (ValueError, AttributeError):
                raise ApiError(error.code, "http_error", raw.decode(errors="replace")) from None

    def _json(self, *args, **kwargs):
        _, _, raw = self._call(*args, **kwargs)
        return json.loads(raw) if raw else None

    def _page(self, operation, params=(), **query) -> Page:
        _, headers, raw = self._call(operation, params, query=query)
        return Page(json.loads(raw), headers.get("x-next-iterator"))

    # ---- operations ----

    def get_health(self) -> dict:
        return self._json("getHealth")

    def get_metrics(self) -> str:
        return self._call("getMetrics")[2].decode()

    def get_open_api_document(self) -> dict:
        return self._json("getOpenApiDocument")

    def create_session(self) -> dict:
        """Signs in as the dashboard does; returns ``{"cookie", "session"}`` (for browsers)."""
        _, headers, raw = self._call(
            "createSession", body={"token": self.token}, headers={"X-Octohooks-CSRF": "1"}
        )
        cookie = next(
            (c.split(";")[0].split("=", 1)[1] for c in headers.get_all("Set-Cookie") or []
             if c.startswith("octohooks_session=")),
            None,
        )
        return {"cookie": cookie, "session": json.loads(raw)}

    def _session_headers(self, session):
        return {
            "Authorization": None,
            "Cookie": f"octohooks_session={session['cookie']}",
            "X-Octohooks-CSRF": session["session"]["csrfToken"],
        }

    def get_session(self, session: dict) -> dict:
        return self._json("getSession", headers=self._session_headers(session))

    def delete_session(self, session: dict) -> None:
        self._call("deleteSession", headers=self._session_headers(session))

    def list_tokens(self, limit=None, iterator=None) -> Page:
        return self._page("listTokens", limit=limit, iterator=iterator)

    def create_token(self, token: dict, idempotency_key=None) -> dict:
        return self._json("createToken", body=token, idempotency_key=idempotency_key)

    def revoke_token(self, token_id: str) -> dict:
        return self._json("revokeToken", [token_id])

    def list_applications(self, limit=None, iterator=None) -> Page:
        return self._page("listApplications", limit=limit, iterator=iterator)

    def create_application(self, app: dict, idempotency_key=None) -> dict:
        return self._json("createApplication", body=app, idempotency_key=idempotency_key)

    def get_application(self, app: str) -> dict:
        return self._json("getApplication", [app])

    def update_application(self, app: str, update: dict) -> dict:
        return self._json("updateApplication", [app], body=update)

    def delete_application(self, app: str) -> None:
        self._call("deleteApplication", [app])

    def create_portal_link(self, app: str, link: Optional[dict] = None, idempotency_key=None) -> dict:
        return self._json("createPortalLink", [app], body=link or {}, idempotency_key=idempotency_key)

    def list_endpoints(self, app: str, limit=None, iterator=None) -> Page:
        return self._page("listEndpoints", [app], limit=limit, iterator=iterator)

    def create_endpoint(self, app: str, endpoint: dict, idempotency_key=None) -> dict:
        return self._json("createEndpoint", [app], body=endpoint, idempotency_key=idempotency_key)

    def get_endpoint(self, app: str, endpoint: str) -> dict:
        return self._json("getEndpoint", [app, endpoint])

    def update_endpoint(self, app: str, endpoint: str, update: dict) -> dict:
        return self._json("updateEndpoint", [app, endpoint], body=update)

    def delete_endpoint(self, app: str, endpoint: str) -> None:
        self._call("deleteEndpoint", [app, endpoint])

    def list_endpoint_attempts(self, app: str, endpoint: str, limit=None, iterator=None,
                               status=None, since=None, until=None) -> Page:
        return self._page("listEndpointAttempts", [app, endpoint], limit=limit, iterator=iterator,
                          status=status, since=since, until=until)

    def get_endpoint_stats(self, app: str, endpoint: str) -> dict:
        return self._json("getEndpointStats", [app, endpoint])

    def pause_endpoint(self, app: str, endpoint: str, idempotency_key=None) -> dict:
        return self._json("pauseEndpoint", [app, endpoint], idempotency_key=idempotency_key)

    def resume_endpoint(self, app: str, endpoint: str, idempotency_key=None) -> dict:
        return self._json("resumeEndpoint", [app, endpoint], idempotency_key=idempotency_key)

    def get_endpoint_secret(self, app: str, endpoint: str) -> dict:
        return self._json("getEndpointSecret", [app, endpoint])

    def rotate_endpoint_secret(self, app: str, endpoint: str, rotate: Optional[dict] = None,
                               idempotency_key=None) -> dict:
        return self._json("rotateEndpointSecret", [app, endpoint], body=rotate or {},
                          idempotency_key=idempotency_key)

    def test_endpoint_filter(self, app: str, endpoint: str, test: dict, idempotency_key=None) -> dict:
        return self._json("testEndpointFilter", [app, endpoint], body=test, idempotency_key=idempotency_key)

    def recover_endpoint(self, app: str, endpoint: str, recover: dict, idempotency_key=None) -> dict:
        return self._json("recoverEndpoint", [app, endpoint], body=recover, idempotency_key=idempotency_key)

    def get_recovery_job(self, app: str, endpoint: str, job: str) -> dict:
        return self._json("getRecoveryJob", [app, endpoint, job])

    def list_messages(self, app: str, limit=None, iterator=None, event_type=None, channel=None,
                      after=None, before=None) -> Page:
        return self._page("listMessages", [app], limit=limit, iterator=iterator, eventType=event_type,
                          channel=channel, after=after, before=before)

    def create_message(self, app: str, message: dict, idempotency_key=None) -> dict:
        return self._json("createMessage", [app], body=message, idempotency_key=idempotency_key)

    def get_message(self, app: str, message: str) -> dict:
        return self._json("getMessage", [app, message])

    def list_attempts(self, app: str, message: str, limit=None, iterator=None) -> Page:
        return self._page("listAttempts", [app, message], limit=limit, iterator=iterator)

    def resend_message(self, app: str, message: str, endpoint: str, idempotency_key=None) -> dict:
        return self._json("resendMessage", [app, message, endpoint], idempotency_key=idempotency_key)

    def send_example(self, app: str, endpoint: str, event_type: str, idempotency_key=None) -> dict:
        """Sends the catalogue's example of ``event_type`` to this endpoint only."""
        return self._json("sendExample", [app, endpoint], body={"eventType": event_type},
                          idempotency_key=idempotency_key)

    def erase_message_content(self, app: str, message: str) -> dict:
        return self._json("eraseMessageContent", [app, message])

    def erase_messages(self, app: str, erase: Optional[dict] = None, idempotency_key=None) -> dict:
        return self._json("eraseMessages", [app], body=erase or {}, idempotency_key=idempotency_key)

    def get_erasure_job(self, app: str, job: str) -> dict:
        return self._json("getErasureJob", [app, job])

    def list_event_types(self, limit=None, iterator=None) -> Page:
        return self._page("listEventTypes", limit=limit, iterator=iterator)

    def create_event_type(self, event_type: dict, idempotency_key=None) -> dict:
        return self._json("createEventType", body=event_type, idempotency_key=idempotency_key)

    def get_event_type(self, name: str) -> dict:
        return self._json("getEventType", [name])

    def update_event_type(self, name: str, update: dict) -> dict:
        return self._json("updateEventType", [name], body=update)

    def delete_event_type(self, name: str) -> dict:
        return self._json("deleteEventType", [name])

    def list_operational_endpoints(self, limit=None, iterator=None) -> Page:
        return self._page("listOperationalEndpoints", limit=limit, iterator=iterator)

    def create_operational_endpoint(self, endpoint: dict, idempotency_key=None) -> dict:
        return self._json("createOperationalEndpoint", body=endpoint, idempotency_key=idempotency_key)

    def get_operational_endpoint(self, endpoint: str) -> dict:
        return self._json("getOperationalEndpoint", [endpoint])

    def update_operational_endpoint(self, endpoint: str, update: dict) -> dict:
        return self._json("updateOperationalEndpoint", [endpoint], body=update)

    def delete_operational_endpoint(self, endpoint: str) -> dict:
        return self._json("deleteOperationalEndpoint", [endpoint])
