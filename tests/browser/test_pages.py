"""The visitor widget and the agent console, driven in Chromium against a real gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, start_server
from tests.support.server import Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000


def new_page(browser: Browser, errors: PageErrors) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    return context, errors.watch(context.new_page())


def start_visitor_chat(page: Page, web: Server, name: str, email: str, topic: str) -> None:
    page.goto(web.http + "/chat")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Topic").select_option(label=topic)
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#status-line")).to_contain_text("Waiting")


def visitor_says(page: Page, text: str) -> None:
    page.get_by_label("Type your message").fill(text)
    page.get_by_label("Type your message").press("Enter")
    # Pending until the server's ack: then it carries a seq and no "pending" class.
    sent = page.locator("#transcript li.msg-customer:not(.pending)", has_text=text)
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"))


def sign_in(page: Page, web: Server, username: str, password: str = AGENT_PASSWORD) -> None:
    page.goto(web.http + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Page, web: Server, username: str) -> None:
    sign_in(page, web, username)
    expect(page.locator("#conn-state")).to_have_text("Connected")


def test_visitor_and_agent_talk_through_the_pages(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    a_ctx, agent = new_page(browser, page_errors)
    start_visitor_chat(visitor, web, "Vera Lind", "vera@example.com", "Orders and delivery")
    visitor_says(visitor, "My parcel never arrived")

    signed_in(agent, web, "alice")
    waiting = agent.locator("#queue li", has_text="Vera Lind")
    expect(waiting).to_have_count(1)
    waiting.get_by_role("button", name=re.compile("^Take")).click()

    mine = agent.locator("#mine li", has_text="Vera Lind")
    expect(mine).to_have_count(1)
    expect(mine.locator(".ch")).to_have_text("webchat")
    transcript = agent.locator("#transcript")
    expect(transcript.locator("li.msg-customer")).to_have_text(
        re.compile("My parcel never arrived")
    )
    prechat = agent.locator("#ctx-prechat")
    expect(prechat).to_contain_text("Topic")
    expect(prechat).to_contain_text("Orders and delivery")
    expect(agent.locator("#context")).to_contain_text("vera@example.com")
    expect(visitor.locator("#status-line")).to_contain_text("chatting")

    agent.get_by_label("Reply").fill("Sorry about that! Let me check the tracking.")
    agent.get_by_label("Reply").press("Enter")
    expect(
        transcript.locator("li.msg-agent:not(.pending)", has_text="Let me check the tracking")
    ).to_have_count(1)

    reply = visitor.locator("#transcript li.msg-agent", has_text="Let me check the tracking")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("alice")

    # ... and live the other way, with the typing indicator first.
    visitor.get_by_label("Type your message").press_sequentially("Thanks")
    expect(agent.locator("#typing")).to_contain_text("is typing")
    visitor.get_by_label("Type your message").press("Enter")
    expect(transcript.locator("li.msg-customer", has_text="Thanks")).to_have_count(1)
    expect(agent.locator("#typing")).to_be_hidden()
    v_ctx.close()
    a_ctx.close()


def test_visitor_reload_resumes_the_whole_transcript_once(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    a_ctx, agent = new_page(browser, page_errors)
    start_visitor_chat(visitor, web, "Rui Costa", "rui@example.com", "Billing and payments")
    visitor_says(visitor, "I was charged twice")

    signed_in(agent, web, "bob")
    agent.locator("#queue li", has_text="Rui Costa").get_by_role("button").click()
    expect(agent.locator("#transcript li.msg-customer")).to_have_count(1)
    agent.get_by_label("Reply").fill("I can see both charges.")
    agent.get_by_label("Reply").press("Enter")
    expect(visitor.locator("#transcript li.msg-agent")).to_have_count(1)
    visitor_says(visitor, "Can you refund one?")

    # While the visitor's page is gone, the agent writes; after the reload the
    # widget resumes from what it had and gets exactly the missed message.
    visitor.goto("about:blank")
    agent.get_by_label("Reply").fill("Done: the refund is on its way.")
    agent.get_by_label("Reply").press("Enter")
    expect(agent.locator("#transcript li.msg-agent:not(.pending)")).to_have_count(2)
    visitor.go_back()
    expect(visitor.locator("#chat")).to_be_visible()

    texts = [
        "I was charged twice",
        "I can see both charges.",
        "Can you refund one?",
        "Done: the refund is on its way.",
    ]
    messages = visitor.locator("#transcript li.msg")
    expect(messages).to_have_count(len(texts))
    for item, text in zip(messages.all(), texts, strict=True):
        expect(item.locator(".bubble")).to_have_text(text)
    assert [int(s) for s in messages.evaluate_all("els => els.map(e => e.dataset.seq)")] == [
        1,
        2,
        3,
        4,
    ]

    # A plain reload too: the same conversation, nothing doubled, still live.
    visitor.reload()
    expect(messages).to_have_count(len(texts))
    visitor_says(visitor, "Thank you!")
    expect(agent.locator("#transcript li.msg-customer", has_text="Thank you!")).to_have_count(1)
    expect(messages).to_have_count(len(texts) + 1)
    v_ctx.close()
    a_ctx.close()


def test_widget_explains_a_message_that_is_too_long(
    browser: Browser, web: Server, page_errors: PageErrors
):
    ctx, visitor = new_page(browser, page_errors)
    start_visitor_chat(visitor, web, "Ana", "ana@example.com", "Something else")
    visitor.get_by_label("Type your message").fill("x" * 5000)
    visitor.get_by_label("Type your message").press("Enter")
    expect(visitor.locator("#notice")).to_contain_text("too long")
    expect(visitor.locator("#transcript li.failed")).to_have_count(1)
    ctx.close()


def test_console_says_when_the_password_is_wrong(
    browser: Browser, web: Server, page_errors: PageErrors
):
    ctx, page = new_page(browser, page_errors)
    sign_in(page, web, "alice", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.locator("#app")).to_be_hidden()
    ctx.close()


def test_offer_counts_down_and_accept_sends_an_accept_frame(
    browser: Browser, web: Server, page_errors: PageErrors
):
    # The router that makes offers lands later, so the offer frame is handed
    # to the console's own frame handler (window.__switchboard.receive). The
    # Accept then goes over the real websocket, and today's server answers it
    # with an unknown_offer error, which the console shows.
    ctx, page = new_page(browser, page_errors)
    signed_in(page, web, "alice")
    page.evaluate(
        """() => window.__switchboard.receive({
            type: "offer", offer_id: "of-test-1", conversation_id: "c-test-1",
            channel: "sms", queue: "billing",
            expires_at: new Date(Date.now() + 25000).toISOString(),
            context: {customer: {name: "Omar Haddad", phone: "+4479460000"},
                      prechat: {topic: "Refund"}, recent_conversations: [], sentiment: null},
        })"""
    )
    offer = page.locator("#offers li", has_text="Omar Haddad")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("billing")
    countdown = offer.locator(".offer-countdown")
    expect(countdown).to_have_text(re.compile(r"^2[45]s$"))
    expect(countdown).to_have_text(re.compile(r"^2[23]s$"), timeout=4000)

    offer.get_by_role("button", name="Accept").click()
    sent = page.evaluate("() => window.__switchboard.sent.filter(f => f.type === 'accept')")
    assert sent == [{"type": "accept", "offer_id": "of-test-1"}]
    expect(page.locator("#toasts")).to_contain_text("no longer available")
    expect(offer).to_have_count(0)

    # An offer_revoked removes an offer too.
    page.evaluate(
        """() => {
            const expires_at = new Date(Date.now() + 30000).toISOString();
            window.__switchboard.receive({type: "offer", offer_id: "of-test-2",
                conversation_id: "c-test-2", channel: "webchat", queue: "default", expires_at,
                context: {customer: {name: "Lena Berg"}, prechat: {}}});
        }"""
    )
    expect(page.locator("#offers li", has_text="Lena Berg")).to_be_visible()
    page.evaluate(
        """() => window.__switchboard.receive(
            {type: "offer_revoked", offer_id: "of-test-2", reason: "taken"})"""
    )
    expect(page.locator("#offers li")).to_have_count(0)
    ctx.close()


def test_both_pages_reconnect_after_a_restart_and_deliver_what_waited_once(
    browser: Browser, tmp_path: Path, page_errors: PageErrors
):
    srv = start_server(tmp_path)
    with srv:
        v_ctx, visitor = new_page(browser, page_errors)
        a_ctx, agent = new_page(browser, page_errors)
        start_visitor_chat(visitor, srv, "Kai Lenz", "kai@example.com", "Technical problem")
        visitor_says(visitor, "The app crashes on start")
        signed_in(agent, srv, "alice")
        agent.locator("#queue li", has_text="Kai Lenz").get_by_role("button").click()
        expect(agent.locator("#transcript li.msg-customer")).to_have_count(1)

        srv.stop()
        expect(visitor.locator("#conn")).to_have_text("Reconnecting…")
        expect(agent.locator("#conn-state")).to_have_text("Reconnecting…")
        visitor.get_by_label("Type your message").fill("Hello? Still there?")
        visitor.get_by_label("Type your message").press("Enter")
        agent.get_by_label("Reply").fill("Which version of the app is it?")
        agent.get_by_label("Reply").press("Enter")
        expect(visitor.locator("#transcript li.pending")).to_have_count(1)
        expect(agent.locator("#transcript li.pending")).to_have_count(1)

        srv.start()
        back = {"timeout": 25_000}
        expect(agent.locator("#conn-state")).to_have_text("Connected", **back)
        expect(visitor.locator("#conn")).to_be_hidden(**back)
        expect(visitor.locator("#transcript li.pending")).to_have_count(0, **back)
        expect(agent.locator("#transcript li.pending")).to_have_count(0, **back)
        for page in (visitor, agent):
            msgs = page.locator("#transcript li.msg")
            expect(msgs).to_have_count(3)
            seqs = msgs.evaluate_all("els => els.map(e => Number(e.dataset.seq))")
            assert sorted(seqs) == [1, 2, 3]
        expect(agent.locator("#transcript li", has_text="Still there?")).to_have_count(1)
        expect(visitor.locator("#transcript li", has_text="Which version")).to_have_count(1)
        v_ctx.close()
        a_ctx.close()
