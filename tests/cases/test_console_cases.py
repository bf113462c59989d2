"""The console's case panel in Chromium: "Open case" in one click, pre-filled from
the conversation, then the panel shows number, status, entitlement and timeline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, browser, page_errors, start_server
from tests.support.server import Server

pytestmark = pytest.mark.browser
__all__ = ["browser", "page_errors"]  # fixtures, imported for this module

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("console-cases"))
    with srv:
        yield srv


def bearer(web: Server, username: str) -> dict[str, str]:
    reply = httpx.post(
        web.http + "/api/v1/auth/token", json={"username": username, "password": AGENT_PASSWORD}
    )
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def chat_taken_by_alice(web: Server, text: str) -> str:
    """A visitor writes ``text``; alice takes the conversation."""
    session = httpx.post(
        web.http + "/api/v1/webchat/sessions",
        json={"name": "Nora Diaz", "email": "nora@example.com"},
    ).json()
    with connect(web.ws + "/ws/visitor") as ws:
        ws.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
        assert json.loads(ws.recv(10))["type"] == "welcome"
        ws.send(json.dumps({"type": "message", "client_msg_id": "m1", "text": text}))
        while json.loads(ws.recv(10))["type"] != "ack":
            pass
    cid = session["conversation_id"]
    taken = httpx.post(
        f"{web.http}/api/v1/conversations/{cid}/assign", headers=bearer(web, "alice")
    )
    assert taken.status_code == 200, taken.text
    return str(cid)


def test_open_case_from_a_conversation_and_see_the_case_panel(
    browser: Browser, web: Server, page_errors: PageErrors
):
    cid = chat_taken_by_alice(web, "My invoice is wrong\nit lists two licences")
    sam = bearer(web, "sam")
    customer = httpx.get(f"{web.http}/api/v1/conversations/{cid}", headers=sam).json()["customer"]
    today = date.today()
    httpx.post(
        web.http + "/api/v1/entitlements",
        headers=sam,
        json={
            "customer_id": customer["id"],
            "name": "Support plan",
            "kind": "cases",
            "total": 5,
            "starts_on": str(today),
            "ends_on": str(today + timedelta(days=90)),
        },
    ).raise_for_status()

    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    page = page_errors.watch(context.new_page())
    try:
        page.goto(web.http + "/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(AGENT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#conn-state")).to_have_text("Connected")
        page.locator("#mine li", has_text="Nora Diaz").click()
        expect(page.locator("#conv-name")).to_have_text("Nora Diaz")

        page.get_by_role("button", name="Open case").click()
        panel = page.locator("#case-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".case-number")).to_have_text(re.compile(r"^CAS-\d{5,}$"))
        expect(panel.locator(".case-name")).to_have_text("My invoice is wrong")
        expect(panel.locator(".case-status")).to_have_text("Active · In progress")
        expect(panel.locator(".case-entitlement")).to_have_text("Support plan: 5 cases left")
        expect(panel.locator(".case-item.message")).to_have_count(1)
        expect(page.get_by_role("button", name="Open case")).to_be_hidden()

        # Resolving from the panel charges the entitlement.
        panel.get_by_label("Note or resolution").fill("Credited one licence")
        panel.get_by_role("button", name="Resolve").click()
        expect(panel.locator(".case-status")).to_have_text("Resolved · Problem solved")
        expect(panel.locator(".case-entitlement")).to_have_text("Support plan: 4 cases left")
        number = panel.locator(".case-number").inner_text()
        kase = httpx.get(
            f"{web.http}/api/v1/cases",
            headers=sam,
            params={"customer_id": customer["id"]},
        ).json()["cases"][0]
        assert (kase["number"], kase["status"], kase["resolution"]) == (
            number,
            "resolved",
            "Credited one licence",
        )
        assert kase["conversations"] == [cid]
    finally:
        context.close()
