"""The help portal and smart assist in Chromium."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Response, expect
from websockets.sync.client import connect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors
from tests.support.server import Server

TIMEOUT_MS = 10_000


def bearer(web: Server, username: str) -> dict[str, str]:
    reply = httpx.post(
        web.http + "/api/v1/auth/token", json={"username": username, "password": AGENT_PASSWORD}
    )
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def published(web: Server, title: str, body: str) -> str:
    sam = bearer(web, "sam")
    aid = httpx.post(
        web.http + "/api/v1/articles", json={"title": title, "body": body}, headers=sam
    ).json()["id"]
    for to in ("in_review", "approved", "published"):
        reply = httpx.post(
            web.http + f"/api/v1/articles/{aid}/transition", json={"to": to}, headers=sam
        )
        assert reply.status_code == 200, reply.text
    return str(aid)


def new_page(browser: Browser, errors: PageErrors) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    return errors.watch(context.new_page())


def test_portal_lists_searches_shows_and_takes_feedback(
    browser: Browser, web: Server, page_errors: PageErrors
):
    aid = published(
        web,
        "Freeze a stolen card",
        "Open **Cards** and press *Freeze*.\n\n<script>window.pwned=1</script>",
    )
    published(web, "Change your address", "Go to Profile, then Address.")
    page = new_page(browser, page_errors)
    page.goto(web.http + "/kb/")
    expect(page.locator(".article")).to_have_count(2)
    page.get_by_label("Search the help center").fill("stolen card")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("h1")).to_contain_text("stolen card")
    expect(page.locator(".article")).to_have_count(1)
    expect(page.locator(".article mark").first).to_be_visible()
    page.get_by_role("link", name="Freeze a stolen card").click()
    expect(page).to_have_url(web.http + f"/kb/{aid}")
    expect(page.locator("article strong")).to_have_text("Cards")
    assert page.evaluate("window.pwned") is None
    page.get_by_role("button", name="Yes").click()
    expect(page.locator(".thanks")).to_be_visible()
    shown = httpx.get(web.http + f"/api/v1/articles/{aid}", headers=bearer(web, "sam")).json()
    assert shown["helpful"] == 1 and shown["views"] >= 1
    assert page_errors.errors == []


def test_console_suggests_as_the_customer_types_and_sends_in_one_click(
    browser: Browser, web: Server, page_errors: PageErrors
):
    card = published(web, "Replace a damaged card", "Order a new card under Cards.")
    refund = published(web, "Refund for a cancelled order", "Refunds arrive in 3 days.")
    alice = bearer(web, "alice")
    session = httpx.post(web.http + "/api/v1/webchat/sessions", json={"name": "Pia"}).json()
    cid = session["conversation_id"]
    assert (
        httpx.post(web.http + f"/api/v1/conversations/{cid}/assign", headers=alice).status_code
        == 200
    )

    with connect(web.ws + "/ws/visitor") as visitor:
        visitor.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
        assert json.loads(visitor.recv(timeout=10))["type"] == "welcome"

        def say(text: str) -> None:
            visitor.send(json.dumps({"type": "message", "client_msg_id": text, "text": text}))
            while json.loads(visitor.recv(timeout=10)).get("type") != "ack":
                pass

        say("Hi, my card is damaged")
        page = new_page(browser, page_errors)
        page.goto(web.http + "/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(AGENT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#conn-state")).to_have_text("Connected")
        page.locator("#mine li", has_text="Pia").click()
        panel = page.locator("#kb-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".kb-article").first).to_have_attribute("data-article-id", card)

        # The customer changes the subject: the pushed suggestions follow.
        say("Actually I want a refund for my cancelled order")
        expect(panel.locator(".kb-article").first).to_have_attribute("data-article-id", refund)

        panel.locator(".kb-article", has_text="Refund for a cancelled order").get_by_role(
            "button", name="Send link"
        ).click()
        expect(page.locator("#transcript")).to_contain_text(f"/kb/{refund}")
        got: dict[str, Any] = {}
        while got.get("type") != "message" or got.get("sender", {}).get("role") != "agent":
            got = json.loads(visitor.recv(timeout=10))
        assert f"/kb/{refund}" in got["text"]

        # Searching from the conversation finds published articles.
        panel.get_by_label("Search the knowledge base").fill("damaged")
        expect(panel.locator(".kb-article")).to_have_count(1)
        expect(panel.locator(".kb-article")).to_have_attribute("data-article-id", card)
    assert page_errors.errors == []


def test_supervisor_sees_topics_with_a_chart(
    browser: Browser, web: Server, page_errors: PageErrors
):
    texts = [f"my card was stolen last night {i}" for i in range(3)] + [
        f"where is my refund for the order {i}" for i in range(3)
    ]
    alice = bearer(web, "alice")
    for n, text in enumerate(texts):
        session = httpx.post(web.http + "/api/v1/webchat/sessions", json={}).json()
        with connect(web.ws + "/ws/visitor") as visitor:
            visitor.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
            assert json.loads(visitor.recv(timeout=10))["type"] == "welcome"
            visitor.send(json.dumps({"type": "message", "client_msg_id": "m1", "text": text}))
            while json.loads(visitor.recv(timeout=10)).get("type") != "ack":
                pass
            if n < 2:  # two of the stolen-card customers rate the chat 4 and 5
                cid = session["conversation_id"]
                for step in ("assign", "close"):
                    reply = httpx.post(
                        web.http + f"/api/v1/conversations/{cid}/{step}", headers=alice
                    )
                    assert reply.status_code == 200, reply.text
                while json.loads(visitor.recv(timeout=10)).get("type") != "survey":
                    pass
                visitor.send(json.dumps({"type": "survey_response", "csat": 4 + n}))
                while json.loads(visitor.recv(timeout=10)).get("type") != "survey_recorded":
                    pass
    page = new_page(browser, page_errors)
    page.goto(web.http + "/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    panel = page.locator("#kb-topics-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("svg rect.bar").first).to_be_visible()
    rows = panel.locator("tr.kb-topic")
    expect(rows.first).to_be_visible()
    labels = " ".join(rows.locator(".kb-topic-label").all_inner_texts())
    assert "card" in labels or "stolen" in labels
    assert "refund" in labels or "order" in labels
    expect(panel.get_by_role("columnheader", name="CSAT")).to_be_visible()
    stolen = rows.filter(has_text="stolen")
    expect(stolen.locator(".kb-topic-csat")).to_have_text("4.5")
    refund = rows.filter(has_text="refund")
    expect(refund.locator(".kb-topic-csat")).to_have_text("\u2013")  # none answered
    assert page_errors.errors == []


def test_widget_suggests_published_articles_before_a_chat_and_counts_them(
    browser: Browser, web: Server, page_errors: PageErrors
):
    pin = published(web, "Reset your card PIN", "Open Cards, pick the card, choose Reset PIN.")
    sam = bearer(web, "sam")
    draft = httpx.post(
        web.http + "/api/v1/articles",
        json={"title": "Reset PIN secret draft", "body": "reset my card PIN secret"},
        headers=sam,
    )
    assert draft.status_code == 201
    since = httpx.get(web.http + "/api/v1/reports/deflection", headers=sam).json()["until"]

    page = new_page(browser, page_errors)
    page.goto(web.http + "/chat")

    def counted(response: Response) -> bool:
        return response.url.endswith("/api/v1/kb/deflections") and response.ok

    question = page.get_by_label("How can we help?")
    question.fill("hi")
    with page.expect_response(counted):  # "shown", once suggestions appear
        question.fill("How do I reset the PIN of my card?")
    box = page.locator("#deflect")
    expect(box).to_be_visible()
    expect(box).to_contain_text("These articles may answer it")
    links = box.locator(".deflect-article a")
    expect(links.first).to_have_text("Reset your card PIN")
    expect(links.first).to_have_attribute("href", f"/kb/{pin}")
    expect(links.first).to_have_attribute("target", "_blank")
    expect(box).not_to_contain_text("secret draft")

    with page.expect_response(counted), page.context.expect_page() as opened:
        links.first.click()
    article = opened.value
    article.wait_for_load_state()
    assert article.url == web.http + f"/kb/{pin}"
    article.close()

    page.get_by_label("Your name").fill("Nia")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Topic").select_option("account")
    with page.expect_response(counted):
        page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#chat")).to_be_visible()
    expect(box).to_be_hidden()

    found = httpx.get(
        web.http + "/api/v1/reports/deflection", params={"since": since}, headers=sam
    ).json()
    assert (found["shown"], found["clicked"], found["chat_started"]) == (1, 1, 1)
    assert found["deflected"] == 0
    assert found["articles"] == [{"id": pin, "title": "Reset your card PIN", "clicks": 1}]
    assert page_errors.errors == []
