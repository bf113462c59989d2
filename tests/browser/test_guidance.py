"""The console's agent guidance in Chromium: the summary on the offer card,
the script beside the conversation (ticked, kept over a reload, a macro run
from it) and canned responses searched from the composer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors
from tests.support.server import Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
CONFIG = """
[[macros]]
name = "greet"
title = "Greet the customer"
actions = [{ kind = "send", text = "Hello {{ customer.first_name }}, I'm {{ agent.name }}." }]

[[scripts]]
name = "web"
title = "Web chat"
when = "channel == 'webchat'"
steps = [
  { kind = "text", text = "Read the pre-chat answers first." },
  { kind = "check", text = "Identity verified" },
  { kind = "macro", macro = "greet" },
]

[[canned]]
name = "refund-time"
title = "How long refunds take"
text = "{{ customer.first_name }}, refunds reach your card within 5 days."
"""


@pytest.fixture(scope="module")
def guided(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("guidance-browser")
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3", config=CONFIG)
    srv.add_user("alice", AGENT_PASSWORD, "agent")
    with srv:
        yield srv


def visitor_writes(srv: Server, name: str, text: str) -> str:
    """A web chat whose visitor wrote ``text``: it enters routing."""
    session = httpx.post(srv.http + "/api/v1/webchat/sessions", json={"name": name}).json()
    with connect(srv.ws + "/ws/visitor") as ws:
        ws.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "message", "client_msg_id": "m1", "text": text}))
        while json.loads(ws.recv(timeout=10))["type"] != "ack":
            pass
    return str(session["conversation_id"])


def sign_in(page: Page, srv: Server) -> None:
    page.goto(srv.http + "/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn-state")).to_have_text("Connected", timeout=TIMEOUT_MS)


def test_the_console_shows_the_summary_a_script_and_canned_responses(
    browser: Browser, guided: Server, page_errors: PageErrors
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    page = page_errors.watch(context.new_page())
    sign_in(page, guided)

    visitor_writes(
        guided, "Vera Lind", "Hi! My new card has not arrived. Can you track the delivery?"
    )
    offer = page.locator("#offers li", has_text="Vera Lind")
    expect(offer.locator(".offer-summary")).to_contain_text(
        "Asked: My new card has not arrived. Can you track the delivery?", timeout=TIMEOUT_MS
    )
    offer.get_by_role("button", name="Accept").click()
    expect(page.locator("#conv-name")).to_have_text("Vera Lind", timeout=TIMEOUT_MS)

    panel = page.locator("#script-panel")
    expect(panel).to_be_visible(timeout=TIMEOUT_MS)
    expect(panel.locator("#script-title")).to_contain_text("Script: Web chat", timeout=TIMEOUT_MS)
    expect(panel.locator(".script-progress")).to_have_text("0/3", timeout=TIMEOUT_MS)
    expect(panel.locator(".script-step")).to_have_count(3, timeout=TIMEOUT_MS)
    expect(panel).not_to_contain_text("null", timeout=TIMEOUT_MS)

    # Tick a box: stored, so a reload finds it ticked.
    panel.get_by_label("Identity verified").check()
    expect(panel.locator(".script-progress")).to_have_text("1/3", timeout=TIMEOUT_MS)
    expect(panel.locator(".script-step.done")).to_contain_text("done by alice", timeout=TIMEOUT_MS)
    page.reload()
    expect(page.locator("#conv-name")).to_have_text("Vera Lind", timeout=TIMEOUT_MS)
    expect(page.locator("#script-panel").get_by_label("Identity verified")).to_be_checked(
        timeout=TIMEOUT_MS
    )

    # Run the macro step: the greeting goes out as alice, and the step is done.
    page.locator("#script-panel").get_by_role("button", name="Run: Greet the customer").click()
    expect(
        page.locator("#transcript li.msg-agent", has_text="Hello Vera, I'm alice.")
    ).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("#script-panel .script-progress")).to_have_text("2/3", timeout=TIMEOUT_MS)
    expect(
        page.locator("#script-panel").get_by_role("button", name="Run: Greet the customer")
    ).to_be_disabled(timeout=TIMEOUT_MS)

    # "/" in the composer searches canned responses; Enter picks one, filled in.
    reply = page.get_by_label("Reply")
    reply.press_sequentially("/refund")
    picker = page.locator("#canned-picker")
    expect(picker.get_by_role("option")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(picker).to_contain_text("How long refunds take", timeout=TIMEOUT_MS)
    reply.press("Enter")
    expect(picker).to_be_hidden(timeout=TIMEOUT_MS)
    expect(reply).to_have_value("Vera, refunds reach your card within 5 days.", timeout=TIMEOUT_MS)
    # Nothing was sent by that Enter: only the greeting is from the agent.
    expect(page.locator("#transcript li.msg-agent")).to_have_count(1, timeout=TIMEOUT_MS)

    # Any macro runs from the menu under the script, too.
    panel.get_by_label("Macro").select_option(label="Greet the customer")
    panel.get_by_role("button", name="Run macro").click()
    expect(page.locator("#transcript li.msg-agent", has_text="Hello Vera")).to_have_count(
        2, timeout=TIMEOUT_MS
    )
    context.close()
