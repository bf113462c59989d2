"""In Chromium: a visitor answers the survey card after the chat closes, and
the supervisor's KPI panel shows the numbers and draws the charts."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, start_server
from tests.browser.test_pages import new_page, signed_in, start_visitor_chat, visitor_says
from tests.support.server import Server

pytestmark = pytest.mark.browser
HTTP_TIMEOUT = 30.0  # two cores shared with Chromium and the server


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("kpi-browser"))
    with srv:
        yield srv


def bearer(web: Server, username: str) -> dict[str, str]:
    reply = httpx.post(
        web.http + "/api/v1/auth/token",
        json={"username": username, "password": AGENT_PASSWORD},
        timeout=HTTP_TIMEOUT,
    )
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_survey_card_then_kpi_panel_with_charts(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    start_visitor_chat(visitor, web, "Nina Berg", "nina@example.com", "Billing and payments")
    visitor_says(visitor, "I was charged twice")

    alice = bearer(web, "alice")
    (waiting,) = httpx.get(
        web.http + "/api/v1/conversations?status=queued,offered",
        headers=alice,
        timeout=HTTP_TIMEOUT,
    ).json()["conversations"]
    cid = waiting["id"]
    for step in ("assign", "close"):
        reply = httpx.post(
            f"{web.http}/api/v1/conversations/{cid}/{step}", headers=alice, timeout=HTTP_TIMEOUT
        )
        assert reply.status_code == 200, reply.text

    # The chat ended: the card asks for a score; sending without one is stopped here.
    card = visitor.locator(".survey-card")
    expect(card).to_be_visible()
    expect(card.get_by_role("radio")).to_have_count(5)
    card.get_by_role("button", name="Send feedback").click()
    expect(card.locator(".survey-error")).to_have_text("Please pick a score first.")
    card.get_by_role("radio", name="4").check()
    card.get_by_label(re.compile("Anything else")).fill("Sorted out fast")
    card.get_by_role("button", name="Send feedback").click()
    expect(card.locator(".survey-thanks")).to_have_text("Thanks for your feedback!")
    sent = visitor.evaluate("window.__switchboard.socket.sent.at(-1)")
    assert sent == {
        "type": "survey_response",
        "conversation_id": cid,
        "csat": 4,
        "comment": "Sorted out fast",
    }

    # The supervisor's panel.
    s_ctx, sam = new_page(browser, page_errors)
    signed_in(sam, web, "sam")
    panel = sam.locator("#kpis")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-kpi=conversations] .kpi-value")).to_have_text("1")
    expect(panel.locator("[data-kpi=csat] .kpi-value")).to_have_text("4.0")
    expect(panel.locator("[data-kpi=csat] .kpi-hint")).to_contain_text("1 answer · 100%")
    expect(panel.locator("[data-kpi=abandoned] .kpi-value")).to_have_text("1")
    bars = panel.locator("#kpi-chart-volume rect.bar:not(.part)")
    expect(bars).to_have_count(7)  # the last 7 days, today last
    expect(bars.last).to_have_attribute("data-value", "1")
    expect(bars.first).to_have_attribute("data-value", "0")
    # Nobody answered: the one conversation was abandoned (drawn as a part).
    expect(panel.locator("#kpi-chart-volume rect.part")).to_have_count(1)
    expect(panel.locator("#kpi-chart-first circle")).to_have_count(0)

    default = panel.locator("#kpi-queues tr[data-queue='default']")
    expect(default.locator(".conversations")).to_have_text("1")
    expect(default.locator(".csat")).to_have_text("4.0")

    panel.get_by_label("KPI period").select_option("today")
    expect(bars).to_have_count(1)
    panel.get_by_label("KPI period").select_option("30d")
    expect(bars).to_have_count(30)

    with sam.expect_download() as download:
        panel.get_by_role("button", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert rows[0]["scope"] == "all" and rows[0]["conversations"] == "1"
    assert rows[0]["csat_average"] == "4.0"

    # Agents see no KPIs.
    a_ctx, agent = new_page(browser, page_errors)
    signed_in(agent, web, "bob")
    expect(agent.locator("#kpis")).to_be_hidden()
    for ctx in (v_ctx, s_ctx, a_ctx):
        ctx.close()
