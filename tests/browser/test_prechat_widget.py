"""The widget's configured pre-chat survey (the default one and a widget's
own) and a proactive invitation, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, start_server
from tests.support.clients import bearer, token
from tests.support.server import Server

pytestmark = pytest.mark.browser

CONFIG = """
[[webchat.prechat]]
name = "topic"
label = "What is it about?"
type = "choice"
choices = ["cards", "loans"]
required = true

[[webchat.prechat]]
name = "seats"
label = "Team size"
type = "number"

[[webchat.prechat]]
name = "customer"
label = "Already a customer"
type = "boolean"

[[webchat.widgets]]
id = "shop"

[[webchat.widgets.prechat]]
name = "order"
label = "Order number"
required = true

[[proactive]]
name = "widget"
when = "page_url contains '/chat' and seconds_on_page >= 1"
message = "Need a hand choosing a plan?"
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("prechat-widget"), config=CONFIG)
    with srv:
        yield srv


def test_invitation_then_survey_answers_reach_the_conversation(
    web: Server, browser: Browser, page_errors: PageErrors
):
    page = page_errors.watch(browser.new_page())
    page.goto(web.http + "/chat")
    invitation = page.get_by_role("dialog", name="Chat invitation")
    expect(invitation).to_contain_text("Need a hand choosing a plan?", timeout=15_000)
    invitation.get_by_role("button", name="Chat now").click()
    expect(invitation).to_be_hidden()

    expect(page.locator("#pc-topic")).to_be_hidden()  # the configured survey replaces it
    page.get_by_label("Your name").fill("Vera")
    page.get_by_label("Email").fill("vera@example.com")
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#pcf-topic-error")).to_contain_text("What is it about?")

    page.get_by_label("What is it about?").select_option("loans")
    page.get_by_label("Team size").fill("12")
    page.get_by_label("Already a customer").check()
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#chat")).to_be_visible()
    conversation_id = page.evaluate("window.__switchboard.state.conversationId")

    boss = bearer(token(web.http, "sam", AGENT_PASSWORD))
    context = httpx.get(
        f"{web.http}/api/v1/conversations/{conversation_id}/context", headers=boss
    ).json()
    assert context["prechat"] == {"topic": "loans", "seats": 12, "customer": True}
    assert context["context"]["proactive"] == "widget"
    report = httpx.get(web.http + "/api/v1/reports/proactive", headers=boss).json()
    [row] = report["rules"]
    assert row["rule"] == "widget" and row["shown"] >= 1 and row["accepted"] == 1
    assert not page_errors.errors
    page.close()


def test_a_widget_named_by_the_page_asks_its_own_survey(
    web: Server, browser: Browser, page_errors: PageErrors
):
    page = page_errors.watch(browser.new_page())
    page.goto(web.http + "/chat?widget=shop")
    expect(page.get_by_label("Order number")).to_be_visible()
    expect(page.locator("#pcf-topic")).to_have_count(0)  # the default widget's field
    page.get_by_label("Your name").fill("Ines")
    page.get_by_label("Email").fill("ines@example.com")
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#pcf-order-error")).to_contain_text("Order number")
    page.get_by_label("Order number").fill("A-17")
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#chat")).to_be_visible()
    conversation_id = page.evaluate("window.__switchboard.state.conversationId")

    boss = bearer(token(web.http, "sam", AGENT_PASSWORD))
    context = httpx.get(
        f"{web.http}/api/v1/conversations/{conversation_id}/context", headers=boss
    ).json()
    assert context["prechat"] == {"order": "A-17"}
    assert context["context"]["widget"] == "shop"
    assert not page_errors.errors
    page.close()


def test_a_widget_that_does_not_exist_says_so(web: Server, browser: Browser):
    page = browser.new_page()
    crashes: list[str] = []  # the console logs the 404s the page handles: expected
    page.on("pageerror", lambda exc: crashes.append(str(exc)))
    page.goto(web.http + "/chat?widget=nope")
    expect(page.locator("#prechat-error")).to_contain_text("unknown widget 'nope'")
    page.get_by_label("Your name").fill("Ines")
    page.get_by_label("Email").fill("ines@example.com")
    page.locator("#pc-topic").select_option(index=1)
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#prechat-error")).to_contain_text("unknown widget 'nope'")
    expect(page.locator("#chat")).to_be_hidden()
    assert crashes == []
    page.close()
