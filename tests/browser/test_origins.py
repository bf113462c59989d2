"""The chat widget on other sites, in Chromium: a site in ``allowed_origins``
may frame it and call the API and websockets from its own scripts; any other
site may do none of it (``frame-ancestors``, CORS, websocket close 4403).

Two host sites are two local HTTP servers on 127.0.0.1 with different ports,
so they are two origins, neither of them the gateway's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import AGENT_PASSWORD
from tests.support.server import Server

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Acme shop</title></head>
<body><h1>Acme shop</h1>
<iframe id="widget" src="{gateway}/chat" title="Chat with us"
        style="width:400px;height:640px;border:0"></iframe>
</body></html>
"""

# Run in the host page: the site's own script calling the gateway.
CREATE_SESSION = """async (gateway) => {
  try {
    const reply = await fetch(gateway + "/api/v1/webchat/sessions", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({name: "Cora Cross"}),
    });
    return {status: reply.status, body: await reply.json()};
  } catch (err) {
    return {refused: String(err)};
  }
}"""
OPEN_SOCKET = """([url, token]) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  const frames = [];
  ws.onopen = () => ws.send(JSON.stringify({type: "hello", token}));
  ws.onmessage = (event) => {
    frames.push(JSON.parse(event.data));
    if (frames[0].type === "welcome") { ws.close(); }
  };
  ws.onclose = (event) => resolve({code: event.code, frames});
})"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class Site:
    """A static site on its own port: one origin."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        handler = partial(_Quiet, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, gateway: str) -> str:
        (self.root / "index.html").write_text(HOST_PAGE.format(gateway=gateway))
        self.thread.start()
        return self.origin + "/index.html"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Site, Site]]:
    root = tmp_path_factory.mktemp("origins")
    allowed, refused = Site(root / "allowed"), Site(root / "refused")
    seed = [{"username": "sam", "role": "supervisor", "password_env": "ORIGINS_PASSWORD"}]
    web = Server(
        root,
        f"sqlite:///{root}/db.sqlite3",
        SWITCHBOARD_ALLOWED_ORIGINS=allowed.origin,
        SWITCHBOARD_USERS=json.dumps(seed),
        ORIGINS_PASSWORD=AGENT_PASSWORD,
    )
    allowed.publish(web.http)
    refused.publish(web.http)
    try:
        with web:
            yield web, allowed, refused
    finally:
        allowed.stop()
        refused.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def messages_of(web: Server, conversation_id: str) -> list[dict[str, Any]]:
    tok = httpx.post(
        web.http + "/api/v1/auth/token", json={"username": "sam", "password": AGENT_PASSWORD}
    ).json()["access_token"]
    reply = httpx.get(
        f"{web.http}/api/v1/conversations/{conversation_id}/messages",
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["messages"]
    return found


def test_the_widget_framed_by_an_allowed_site_chats(
    sites: tuple[Server, Site, Site], page: Page
) -> None:
    web, allowed, _ = sites
    page.goto(allowed.origin + "/index.html")
    widget = page.frame_locator("#widget")
    widget.get_by_label("Your name").fill("Ada Allowed")
    widget.get_by_label("Email").fill("ada.allowed@example.com")
    widget.get_by_label("Topic").select_option("orders")
    widget.get_by_role("button", name="Start chat").click()
    expect(widget.locator("#chat")).to_be_visible()
    widget.get_by_label("Type your message").fill("Hello from the shop")
    widget.get_by_label("Type your message").press("Enter")
    sent = widget.locator("#transcript li.msg-customer:not(.pending)", has_text="from the shop")
    expect(sent).to_have_count(1)  # acknowledged: stored by the server
    frame = next(f for f in page.frames if f.url.startswith(web.http + "/chat"))
    conversation_id = frame.evaluate("window.__switchboard.state.conversationId")
    assert [m["text"] for m in messages_of(web, conversation_id)] == ["Hello from the shop"]


def test_the_widget_is_not_framed_by_a_refused_site(
    sites: tuple[Server, Site, Site], page: Page
) -> None:
    web, _, refused = sites
    refusal = "frame-ancestors"
    with page.expect_console_message(lambda msg: refusal in msg.text) as report:
        page.goto(refused.origin + "/index.html")
    assert web.http in report.value.text  # Chromium names the page it would not frame
    expect(page.locator("h1")).to_have_text("Acme shop")
    expect(page.frame_locator("#widget").locator("form")).to_have_count(0)


def test_an_allowed_site_calls_the_api_and_opens_a_socket(
    sites: tuple[Server, Site, Site], page: Page
) -> None:
    web, allowed, _ = sites
    page.goto(allowed.origin + "/index.html")
    created = page.evaluate(CREATE_SESSION, web.http)
    assert created["status"] == 201, created
    opened = page.evaluate(OPEN_SOCKET, [web.ws + "/ws/visitor", created["body"]["visitor_token"]])
    assert opened["frames"][0]["type"] == "welcome", opened
    assert opened["frames"][0]["conversation_id"] == created["body"]["conversation_id"]
    preflight = httpx.options(
        web.http + "/api/v1/webchat/sessions",
        headers={
            "Origin": allowed.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == allowed.origin


def test_a_refused_site_can_neither_call_the_api_nor_open_a_socket(
    sites: tuple[Server, Site, Site], page: Page
) -> None:
    web, _, refused = sites
    page.goto(refused.origin + "/index.html")
    created = page.evaluate(CREATE_SESSION, web.http)
    assert "refused" in created, created  # the preflight failed: no answer to read
    preflight = httpx.options(
        web.http + "/api/v1/webchat/sessions",
        headers={
            "Origin": refused.origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    # A real visitor token (made outside the browser) still opens nothing.
    session = httpx.post(web.http + "/api/v1/webchat/sessions", json={"name": "Rex"}).json()
    opened = page.evaluate(OPEN_SOCKET, [web.ws + "/ws/visitor", session["visitor_token"]])
    assert opened["code"] == 4403, opened
    assert all(f["type"] != "welcome" for f in opened["frames"]), opened
