"""The dashboard and the customer portal in a real browser: headless Chromium (the system's,
/usr/bin/chromium) driven by Playwright, against a live server started by
scripts/with-live-server.sh (OCTOHOOKS_URL, OCTOHOOKS_TOKEN, RECEIVER_URL; OCTOHOOKS_BIN and
OCTOHOOKS_REDIS_URL to start a second node). Run with tests/browser/run.sh.

Every page is saved as a PNG in SCREENSHOTS (printed at the start). The browser waits on
what the page shows (Playwright's auto-waiting assertions), never for a guessed time.
"""

import http.server
import json
import os
import socket
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

BASE = os.environ.get("OCTOHOOKS_URL", "http://127.0.0.1:8080")
TOKEN = os.environ.get("OCTOHOOKS_TOKEN", "")
RECEIVER = os.environ.get("RECEIVER_URL", "")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS", "target/browser-screenshots")).resolve()
COOKIE = "octohooks_session"
WAIT_MS = 15_000


def api(method, path, token=TOKEN, body=None, cookie=None, headers=None, base=BASE):
    """One API call outside the browser: (status, parsed JSON or None)."""
    sent = {"Accept": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if cookie:
        sent["Cookie"] = f"{COOKIE}={cookie}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check, what, timeout=WAIT_MS / 1000):
    """Polls `check` until it returns something true (the server's state, not the page's)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Browser:
    """One Chromium for the whole run; a fresh context (cookies, storage) per test."""

    playwright = None
    chromium = None

    @classmethod
    def start(cls):
        cls.playwright = sync_playwright().start()
        cls.chromium = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )

    @classmethod
    def stop(cls):
        if cls.chromium:
            cls.chromium.close()
        if cls.playwright:
            cls.playwright.stop()


def setUpModule():
    expect.set_options(timeout=WAIT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {SCREENSHOTS}", flush=True)
    Browser.start()


def tearDownModule():
    Browser.stop()


# Keeps the text of every error notice the pages show (they vanish after a few seconds).
RECORD_ERROR_NOTICES = """
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.classList && node.classList.contains('toast-bad')) {
      (window.__errorNotices = window.__errorNotices || []).push(node.textContent);
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


class BrowserTest(unittest.TestCase):
    #: Error notices a test provokes on purpose.
    expected_notices = []

    def setUp(self):
        self.context = Browser.chromium.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(WAIT_MS)
        self.context.add_init_script(RECORD_ERROR_NOTICES)
        self.pages = []
        self.page = self.new_page()

    def new_page(self):
        page = self.context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        self.pages.append(page)
        return page

    def tearDown(self):
        problems = []
        for page in self.pages:
            problems += page.errors
            if not page.is_closed():
                problems += [n for n in page.evaluate("window.__errorNotices || []") if n not in self.expected_notices]
        self.context.close()
        self.assertEqual(problems, [], "errors in the pages (uncaught, or shown as error notices)")

    def shot(self, name, page=None):
        """Saves the page as SCREENSHOTS/<name>.png, without the passing notices: all of it, or
        the window when a dialog is open (its backdrop covers the window only)."""
        page = page or self.page
        page.evaluate("document.getElementById('toasts') && document.getElementById('toasts').replaceChildren()")
        dialog_open = page.locator("dialog.modal").count() > 0
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=not dialog_open)

    def sign_in(self, token=TOKEN, base=BASE):
        page = self.page
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin")
        expect(page.locator("#sign-out")).to_be_visible()

    def dialog(self):
        return self.page.locator("dialog.modal")

    def submit_dialog(self, label, closes=True):
        self.dialog().get_by_role("button", name=label, exact=True).click()
        if closes:
            expect(self.dialog()).to_have_count(0)

    def session_cookie(self):
        return next(c["value"] for c in self.context.cookies() if c["name"] == COOKIE)


class DashboardTest(BrowserTest):
    def test_a_webhook_from_sign_in_to_sign_out(self):
        page = self.page
        uid = f"br-{uuid.uuid4().hex[:8]}"
        # Another application, which the portal link must not show.
        api("POST", "/api/v1/applications", body={"name": "Someone else", "uid": f"{uid}-other"})
        api("POST", f"/api/v1/applications/{uid}-other/endpoints",
            body={"name": "not yours", "url": "http://127.0.0.1:9/other", "uid": "other"})

        self.sign_in()
        expect(page.locator("h1")).to_have_text("Applications")
        cookie = self.session_cookie()

        # The event-type catalogue: a type with a schema and the example send-example sends.
        page.get_by_role("link", name="Event types").click()
        page.click("#new-event-type")
        self.dialog().locator("input[name=name]").fill("user.created")
        self.dialog().locator("input[name=description]").fill("A user signed up")
        self.dialog().locator("textarea[name=schema]").fill(
            '{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}')
        self.dialog().locator("textarea[name=example]").fill('{"id": 1, "email": "example@example.com"}')
        self.submit_dialog("Create")
        expect(page.locator('tr[data-event-type="user.created"]')).to_contain_text("A user signed up")
        page.locator('tr[data-event-type="user.created"] summary').click()
        self.shot("event-types")
        self.assertEqual(api("GET", "/api/v1/event-types/user.created")[1]["example"]["id"], 1)
        page.get_by_role("link", name="Applications", exact=True).click()

        # Create an application.
        page.click("#new-app")
        self.dialog().locator("input[name=name]").fill("Acme Corp")
        self.dialog().locator("input[name=uid]").fill(uid)
        self.shot("application-new")
        self.submit_dialog("Create")
        expect(page.locator("h1")).to_have_text("Acme Corp")

        # An endpoint pointing at the local receiver.
        page.get_by_role("link", name="Add endpoint").click()
        form = page.locator("#endpoint-settings")
        form.locator("input[name=name]").fill("Local receiver")
        form.locator("input[name=url]").fill(RECEIVER)
        form.locator("input[name=uid]").fill("local")
        form.locator("input[name=eventTypes]").fill("user.created, invoice.paid")
        self.shot("endpoint-new")
        page.click("#save-endpoint")
        expect(page.locator("h1")).to_contain_text("Local receiver")
        expect(page.locator("h1 .badge")).to_have_text("healthy")
        endpoint = api("GET", f"/api/v1/applications/{uid}/endpoints/local")[1]

        # Send the catalogue's example to the endpoint; its attempt shows the receiver's 200.
        page.click("#send-example")
        expect(self.dialog().locator("input[name=eventType]")).to_have_value("user.created")
        self.shot("send-example")
        self.submit_dialog("Send")
        delivery = page.locator(f'#deliveries section[data-endpoint="{endpoint["id"]}"]')
        expect(delivery.locator("ol.timeline > li")).to_have_count(1)
        expect(delivery.locator("ol.timeline > li").first).to_contain_text("success")
        expect(delivery.locator("ol.timeline > li").first.locator("code.ok")).to_have_text("200")
        expect(page.locator("pre.json")).to_contain_text('"email": "example@example.com"')

        # A message of our own, sent from the application page, delivered the same way.
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Acme Corp").click()
        page.click("#send-message")
        self.dialog().locator("input[name=eventType]").fill("user.created")
        self.dialog().locator("textarea[name=payload]").fill('{"id": 42, "email": "ada@example.com"}')
        self.submit_dialog("Send")
        expect(page.locator("pre.json")).to_contain_text('"email": "ada@example.com"')
        expect(delivery.locator("ol.timeline > li")).to_have_count(1)
        expect(delivery.locator("ol.timeline > li").first.locator("code.ok")).to_have_text("200")
        self.shot("message")

        # Resend it: a second attempt, also answered 200.
        delivery.locator(f'button[data-resend="{endpoint["id"]}"]').click()
        expect(delivery.locator("ol.timeline > li")).to_have_count(2)
        expect(delivery.locator("ol.timeline > li code.ok")).to_have_text(["200", "200"])
        message_id = page.locator("dl.facts .id-chip code").inner_text()
        attempts = api("GET", f"/api/v1/applications/{uid}/messages/{message_id}/attempts")[1]
        self.assertEqual([a["responseStatusCode"] for a in attempts], [200, 200])

        # The endpoint: its attempt log, then rotate the secret, pause and resume.
        delivery.get_by_role("link", name="Local receiver").click()
        expect(page.locator("#attempts tbody tr")).to_have_count(3)
        page.click("#reveal-secret")
        old_secret = api("GET", f"/api/v1/applications/{uid}/endpoints/local/secret")[1]["key"]
        expect(page.locator("#secret")).to_have_text(old_secret)
        page.click("#rotate-secret")
        self.dialog().locator("input[name=grace]").fill("3600")
        self.submit_dialog("Rotate")
        expect(page.get_by_text("2 secrets sign each delivery")).to_be_visible()
        rotated = api("GET", f"/api/v1/applications/{uid}/endpoints/local")[1]
        self.assertEqual(len(rotated["secrets"]), 2)
        self.assertEqual(rotated["secrets"][1], old_secret)
        page.click("#reveal-secret")
        expect(page.locator("#secret")).to_have_text(rotated["secrets"][0])

        page.click("#pause")
        expect(page.locator("h1 .badge")).to_have_text("paused")
        self.assertTrue(api("GET", f"/api/v1/applications/{uid}/endpoints/local")[1]["paused"])
        self.shot("endpoint-paused")
        page.click("#resume")
        expect(page.locator("h1 .badge")).to_have_text("healthy")
        self.assertFalse(api("GET", f"/api/v1/applications/{uid}/endpoints/local")[1]["paused"])
        expect(page.locator("#stats svg.chart")).to_be_visible()
        self.shot("endpoint")

        # The application page: the endpoint's health, the chart, the message.
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Acme Corp").click()
        expect(page.locator(f'tr[data-endpoint="{endpoint["id"]}"] .badge')).to_have_text("healthy")
        expect(page.locator("#messages tbody tr")).to_have_count(2)
        expect(page.locator(".chart-box svg.chart")).to_be_visible()
        self.shot("application")

        # The applications list, searched.
        page.get_by_role("link", name="Applications", exact=True).first.click()
        page.fill("#app-search", uid)
        expect(page.locator("tbody tr")).to_have_count(2)  # this one and uid-other
        page.fill("#app-search", "acme")
        expect(page.get_by_role("link", name="Acme Corp")).to_be_visible()
        self.shot("applications")

        # A portal link: the portal shows this application's endpoint only.
        page.get_by_role("link", name="Acme Corp").click()
        page.click("#portal-link")
        self.dialog().locator("input[name=orgName]").fill("Platform Inc")
        self.submit_dialog("Create link", closes=False)
        portal_url = page.locator("#portal-url").inner_text()
        self.shot("portal-link")
        self.submit_dialog("Done")
        portal = self.new_page()
        portal.goto(portal_url)
        expect(portal.locator("h1")).to_have_text("Webhook endpoints")
        expect(portal.locator("header.top .brand")).to_contain_text("Platform Inc")
        expect(portal.locator("tbody tr[data-endpoint]")).to_have_count(1)
        expect(portal.get_by_role("link", name="Local receiver")).to_be_visible()
        expect(portal.get_by_text("not yours")).to_have_count(0)
        expect(portal.locator("#sign-out")).to_have_count(0)
        expect(portal.locator("#messages tbody tr")).to_have_count(2)
        self.shot("portal", portal)
        portal.get_by_role("link", name="Local receiver").click()
        expect(portal.locator("#attempts tbody tr")).to_have_count(3)
        self.shot("portal-endpoint", portal)
        # The portal's token (in its tab's storage) reaches nothing else.
        other = portal.evaluate(
            """async (path) => {
                const link = JSON.parse(sessionStorage.getItem('octohooks-portal'));
                const answer = await fetch(path, {headers: {Authorization: `Bearer ${link.token}`}});
                return answer.status;
            }""",
            f"/api/v1/applications/{uid}-other",
        )
        self.assertEqual(other, 404)

        # An API token: shown once, then listed; it works until revoked.
        page.get_by_role("link", name="API tokens").click()
        page.click("#new-token-button")
        self.dialog().locator("input[name=name]").fill("billing service")
        self.submit_dialog("Create token", closes=False)
        secret = page.locator("#new-token").inner_text()
        self.shot("token-created")
        self.submit_dialog("Done")
        self.assertEqual(api("GET", "/api/v1/applications", token=secret)[0], 200)
        row = page.locator("tr", has_text="billing service")
        expect(row).to_have_count(1)
        self.shot("tokens")
        row.get_by_role("button", name="Revoke").click()
        self.submit_dialog("Revoke")
        expect(page.locator("tr", has_text="billing service")).to_have_count(0)
        eventually(lambda: api("GET", "/api/v1/applications", token=secret)[0] == 401, "the revoked token refused")

        # Sign out: the page asks for a token again and the old cookie no longer works.
        self.assertEqual(api("GET", "/api/v1/auth/session", token=None, cookie=cookie)[0], 200)
        page.click("#sign-out")
        expect(page.locator("#token")).to_be_visible()
        self.assertEqual([c for c in self.context.cookies() if c["name"] == COOKIE and c["value"]], [])
        status, body = api("GET", "/api/v1/auth/session", token=None, cookie=cookie)
        self.assertEqual((status, body["code"]), (401, "unauthorized"))
        self.assertEqual(api("GET", "/api/v1/applications", token=None, cookie=cookie)[0], 401)

    def test_operational_webhook_endpoints(self):
        page = self.page
        self.sign_in()
        page.get_by_role("link", name="Operational webhooks").click()
        page.click("#new-operational-endpoint")
        self.dialog().locator("input[name=name]").fill("On-call alerts")
        self.dialog().locator("input[name=url]").fill(RECEIVER)
        self.dialog().locator('input[value="endpoint.disabled"]').check()
        self.dialog().locator('input[value="message.attempt.exhausted"]').check()
        self.shot("operational-webhook-new")
        self.submit_dialog("Create")
        row = page.locator("tr", has_text="On-call alerts")
        expect(row).to_contain_text("endpoint.disabled, message.attempt.exhausted")
        expect(row.locator(".badge")).to_have_text("healthy")
        self.shot("operational-webhooks")
        [made] = api("GET", "/api/v1/operational-webhooks/endpoints")[1]
        self.assertEqual((made["name"], made["url"]), ("On-call alerts", RECEIVER))
        self.assertEqual(sorted(made["eventTypes"]), ["endpoint.disabled", "message.attempt.exhausted"])
        row.get_by_role("button", name="Delete").click()
        self.submit_dialog("Delete")
        expect(page.get_by_text("No operational endpoints")).to_be_visible()
        self.assertEqual(api("GET", "/api/v1/operational-webhooks/endpoints")[1], [])

    def test_a_wrong_token_is_refused(self):
        page = self.page
        page.goto(BASE + "/")
        self.shot("sign-in")
        for wrong in ["oh_not-a-token", TOKEN + "x"]:
            page.fill("#token", wrong)
            page.click("#signin")
            expect(page.locator("#signin-error")).to_have_text("This token is not valid.")
        self.shot("sign-in-refused")
        self.assertEqual([c for c in self.context.cookies() if c["name"] == COOKIE], [])
        page.reload()
        expect(page.locator("#token")).to_be_visible()

    def test_an_expired_portal_link_shows_it(self):
        page = self.page
        page.goto(BASE + "/portal#token=oh_expired&app=nothing&org=Platform")
        expect(page.locator("h1")).to_have_text("This link has expired")
        self.shot("portal-expired")

    def test_cross_site_posts_are_refused(self):
        self.sign_in()
        cookie = self.session_cookie()
        before = len(api("GET", "/api/v1/applications?limit=250")[1])
        # Pages of another origin on the same machine: `localhost` is another site than
        # 127.0.0.1 (the cookie stays home); another port of 127.0.0.1 is the same site (the
        # browser sends the cookie) but another origin, which the API refuses.
        target = BASE + "/api/v1/applications"
        attack = f"""<!doctype html><html><body>
          <form id="f" method="POST" action="{target}" enctype="text/plain">
            <input name='{{"name": "forged", "x": "' value='"}}'>
          </form>
          <script>
            fetch("{target}", {{method: "POST", credentials: "include", mode: "no-cors",
              headers: {{"Content-Type": "text/plain"}}, body: '{{"name": "forged by fetch"}}'}})
              .finally(() => document.getElementById("f").submit());
          </script></body></html>"""
        server, port = serve_html(attack)
        try:
            for origin in [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]:
                self.page.goto(origin + "/attack.html")
                self.page.wait_for_url(target)
                body = self.page.locator("body").inner_text()
                self.assertIn('"code"', body, origin)
                self.shot("cross-site-" + ("same-site" if "127.0.0.1" in origin else "other-site"))
                code = json.loads(body)["code"]
                # Same site: the cookie came, the Origin check refused it; another site: no
                # cookie at all.
                self.assertEqual(code, "csrf_failed" if "127.0.0.1" in origin else "unauthorized", body)
        finally:
            server.shutdown()
        apps = api("GET", "/api/v1/applications?limit=250")[1]
        self.assertEqual(len(apps), before, [a["name"] for a in apps])
        self.assertFalse([a for a in apps if a["name"].startswith("forged")])
        # The session itself still works from its own pages.
        self.assertEqual(api("GET", "/api/v1/auth/session", token=None, cookie=cookie)[0], 200)

    def test_an_expired_session_is_refused(self):
        # A second node on the same Redis whose sessions last 2 s.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            OCTOHOOKS__REDIS__URL=os.environ["OCTOHOOKS_REDIS_URL"],
            OCTOHOOKS__AUTH__BOOTSTRAP_TOKEN=TOKEN,
            OCTOHOOKS__SERVER__BIND=f"127.0.0.1:{port}",
            OCTOHOOKS__SERVER__WORKERS="1",
            OCTOHOOKS__DASHBOARD__SESSION_TTL="2s",
            OCTOHOOKS__LOG__LEVEL="warn",
        )
        node = subprocess.Popen([os.environ["OCTOHOOKS_BIN"], "api"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            eventually(lambda: api_up(base), "the second node")
            self.sign_in(base=base)
            cookie = self.session_cookie()
            expires = api("GET", "/api/v1/auth/session", token=None, cookie=cookie, base=base)[1]["expiresAt"]
            self.assertLess(expires - time.time() * 1000, 3000)
            eventually(lambda: api("GET", "/api/v1/auth/session", token=None, cookie=cookie, base=base)[0] == 401,
                       "the session to expire", timeout=10)
            status, body = api("POST", "/api/v1/applications", token=None, cookie=cookie, base=base,
                               body={"name": "late"}, headers={"X-Octohooks-CSRF": "1", "Origin": base})
            self.assertEqual((status, body["code"]), (401, "unauthorized"))
            # The page, used again, asks to sign in.
            self.page.reload()
            expect(self.page.locator("#token")).to_be_visible()
            self.shot("session-expired")
        finally:
            node.terminate()
            node.wait(timeout=10)


def api_up(base):
    try:
        return urllib.request.urlopen(base + "/health", timeout=1).status == 200
    except OSError:
        return False


def serve_html(html):
    """Serves `html` at /attack.html on 127.0.0.1 (any host name) on a free port."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


if __name__ == "__main__":
    unittest.main()
