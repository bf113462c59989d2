"""The console in Chromium: an offer handed over by a bot shows the bot, why,
its summary and context; supervisors see the Bots panel."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, browser, page_errors  # noqa: F401
from tests.support.server import Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
CONFIG = """
[[bots]]
name = "helper"
queues = ["default"]
grace = "60s"
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("bots-browser")
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3", config=CONFIG)
    srv.add_user("alice", AGENT_PASSWORD, "agent")
    srv.add_user("sam", AGENT_PASSWORD, "supervisor")
    srv.add_user("helper", AGENT_PASSWORD, "bot")
    with srv:
        yield srv


def recv_until(ws: ClientConnection, kind: str) -> dict:
    while True:
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind:
            return frame


def hello(ws: ClientConnection, token: str) -> ClientConnection:
    ws.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    return ws


def token(srv: Server, username: str) -> str:
    reply = httpx.post(
        srv.http + "/api/v1/auth/token", json={"username": username, "password": AGENT_PASSWORD}
    )
    return str(reply.json()["access_token"])


def sign_in(page: Page, srv: Server, username: str) -> None:
    page.goto(srv.http + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn-state")).to_have_text("Connected")


def test_the_offer_card_shows_the_bots_handoff(
    browser: Browser,  # noqa: F811
    web: Server,
    page_errors: PageErrors,  # noqa: F811
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    page = page_errors.watch(context.new_page())
    sign_in(page, web, "alice")

    session = httpx.post(web.http + "/api/v1/webchat/sessions", json={"name": "Nora"}).json()
    cid = session["conversation_id"]
    with connect(web.ws + "/ws/agent") as bot, connect(web.ws + "/ws/visitor") as visitor:
        hello(bot, token(web, "helper"))
        hello(visitor, session["visitor_token"])
        visitor.send(json.dumps({"type": "message", "client_msg_id": "m1", "text": "card stolen"}))
        assert recv_until(bot, "assigned")["conversation_id"] == cid
        handoff = {
            "type": "handoff",
            "conversation_id": cid,
            "summary": "Stolen card <b>blocked</b>",
            "context": {"card_last4": "4242"},
        }
        bot.send(json.dumps(handoff))
        recv_until(visitor, "status")  # queued for people

    card = page.locator("li.offer").filter(has_text="Nora")
    handoff = card.locator(".offer-handoff")
    expect(handoff).to_contain_text("From bot helper")
    expect(handoff).to_contain_text("handed over by the bot")
    # Text, never HTML.
    expect(handoff.locator(".offer-handoff-summary")).to_have_text("Stolen card <b>blocked</b>")
    expect(handoff.locator("dt")).to_have_text("card_last4")
    expect(handoff.locator("dd")).to_have_text("4242")
    card.get_by_role("button", name="Accept").click()
    expect(page.locator("#transcript")).to_contain_text("card stolen")

    supervisor = page_errors.watch(context.new_page())
    sign_in(supervisor, web, "sam")
    panel = supervisor.locator("#bots-panel")
    expect(panel).to_contain_text("helper holds 0")
    expect(panel).to_contain_text("handed over by the bot 1")
    context.close()
