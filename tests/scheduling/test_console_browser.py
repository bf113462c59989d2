"""Booking from the console in Chromium: an agent takes a web chat, opens
"Book visit", finds slots for a service, books one (the visitor's chat shows
the confirmation), sees it listed, and cancels it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors
from tests.browser.conftest import browser as browser
from tests.browser.conftest import page_errors as page_errors
from tests.support.clients import bearer, token
from tests.support.server import Server

pytestmark = pytest.mark.browser
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("scheduling-browser")
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3")
    srv.add_user("alice", AGENT_PASSWORD, "agent")
    srv.add_user("sam", AGENT_PASSWORD, "supervisor")
    with srv:
        yield srv


def visitor_writes(srv: Server, name: str, text: str) -> str:
    session = httpx.post(srv.http + "/api/v1/webchat/sessions", json={"name": name}).json()
    with connect(srv.ws + "/ws/visitor") as ws:
        ws.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "message", "client_msg_id": "m1", "text": text}))
        while json.loads(ws.recv(timeout=10))["type"] != "ack":
            pass
    return str(session["conversation_id"])


def sign_in(page: Page, srv: Server, username: str = "alice") -> None:
    page.goto(srv.http + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn-state")).to_have_text("Connected", timeout=TIMEOUT_MS)


def test_an_agent_books_and_cancels_a_visit_from_the_conversation(
    browser: Browser, web: Server, page_errors: PageErrors
) -> None:
    sam = bearer(token(web.http, "sam", AGENT_PASSWORD))
    tech = httpx.post(
        web.http + "/api/v1/resources",
        json={"name": "Marco Rossi", "kind": "person", "skills": {"repair": 4}, "calendar": "24x7"},
        headers=sam,
    ).json()
    service = httpx.post(
        web.http + "/api/v1/services",
        json={
            "name": "Boiler repair",
            "duration": "1h",
            "requires": [{"kind": "person", "skills": {"repair": 3}}],
        },
        headers=sam,
    ).json()
    assert "id" in tech and "id" in service

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = page_errors.watch(context.new_page())
    sign_in(page, web)
    cid = visitor_writes(web, "Carla Neri", "My boiler makes a noise, can someone come?")
    offer = page.locator("#offers li", has_text="Carla Neri")
    offer.get_by_role("button", name="Accept").click()
    expect(page.locator("#conv-name")).to_have_text("Carla Neri")

    page.locator("#book-visit-btn").click()
    expect(page.locator("#sched-panel")).to_be_visible()
    expect(page.get_by_label("Service")).to_contain_text("Boiler repair")
    page.locator("#sched-find").click()
    slots = page.locator("#sched-slots li.sched-slot")
    expect(slots.first).to_contain_text("Marco Rossi")
    assert slots.count() == 8
    slots.first.get_by_role("button", name="Book").click()
    booked = page.locator("#sched-booked li.sched-appointment")
    expect(booked).to_have_count(1)
    expect(booked.first).to_contain_text("Scheduled")
    # The customer was told in the chat.
    expect(page.locator("#transcript")).to_contain_text("Your appointment (Boiler repair)")

    listed = httpx.get(
        web.http + "/api/v1/appointments", params={"conversation_id": cid}, headers=sam
    ).json()["appointments"]
    assert [a["resources"] for a in listed] == [[tech["id"]]]

    # A supervisor sees it in the day view of that resource.
    day = listed[0]["start"][:10]
    boss_context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
    boss_context.set_default_timeout(TIMEOUT_MS)
    boss = page_errors.watch(boss_context.new_page())
    sign_in(boss, web, "sam")
    view = boss.locator("#sched-day-view")
    expect(view).to_be_visible()
    boss.locator("#sched-day").fill(day)
    boss.locator("#sched-day").dispatch_event("change")
    row = view.locator("tr.sched-day-row", has_text="Marco Rossi")
    expect(row).to_contain_text("Boiler repair (Scheduled)")
    boss_context.close()

    booked.first.get_by_role("button", name="Cancel").click()
    expect(booked.first).to_contain_text("Cancelled")
    listed = httpx.get(
        web.http + "/api/v1/appointments", params={"conversation_id": cid}, headers=sam
    ).json()["appointments"]
    assert [a["status"] for a in listed] == ["cancelled"]
    context.close()
