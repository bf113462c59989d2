"""The visitor widget and the agent console, driven in Chromium against a real gateway.

The router is live: a visitor's first message is offered to a connected,
available agent, who accepts it in the console's Incoming panel. Each test
leaves no conversation open behind it (see ``close_open_conversations``), so
the next test's agents are not offered old ones.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import AGENT_PASSWORD, PageErrors, start_server
from tests.support.server import Server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
ANGRY = "This is the THIRD time I ask!!! Still waiting, terrible service. Cancel my account."


def token(web: Server, username: str) -> str:
    reply = httpx.post(
        web.http + "/api/v1/auth/token", json={"username": username, "password": AGENT_PASSWORD}
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture(autouse=True)
def close_open_conversations(web: Server) -> Iterator[None]:
    """After each test, the supervisor closes whatever is still open."""
    yield
    headers = {"Authorization": f"Bearer {token(web, 'sam')}"}
    found = httpx.get(
        web.http + "/api/v1/conversations?status=queued,offered,assigned", headers=headers
    ).json()["conversations"]
    for c in found:
        httpx.post(f"{web.http}/api/v1/conversations/{c['id']}/close", headers=headers)


def wait_for_presence(web: Server, username: str, status: str, timeout: float = 10.0) -> None:
    """Until the router has the agent at that presence (GET /api/v1/agents)."""
    headers = {"Authorization": f"Bearer {token(web, 'sam')}"}
    deadline = time.monotonic() + timeout
    while True:
        agents = httpx.get(web.http + "/api/v1/agents", headers=headers).json()["agents"]
        now = {a["name"]: a["presence"] for a in agents.values() if a["connected"]}
        if now.get(username) == status:
            return
        assert time.monotonic() < deadline, f"{username} is {now.get(username)}, not {status}"
        time.sleep(0.1)


def new_page(browser: Browser, errors: PageErrors) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    return context, errors.watch(context.new_page())


def visitor_and_two_agents(
    browser: Browser, web: Server, errors: PageErrors
) -> tuple[tuple[BrowserContext, ...], Page, Page, Page]:
    """A visitor page and the consoles of alice and bob, both signed in."""
    (v_ctx, visitor), (a_ctx, alice), (b_ctx, bob) = (new_page(browser, errors) for _ in range(3))
    signed_in(alice, web, "alice")
    signed_in(bob, web, "bob")
    return (v_ctx, a_ctx, b_ctx), visitor, alice, bob


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


def set_presence(page: Page, web: Server, username: str, status: str) -> None:
    page.get_by_label("Presence").select_option(status)
    wait_for_presence(web, username, status)


def offer_for(page: Page, name: str) -> Locator:
    return page.locator("#offers li", has_text=name)


def accept_offer(page: Page, name: str) -> None:
    """The router offers the conversation to this agent: Accept it."""
    offer = offer_for(page, name)
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Accept").click()
    expect(offer).to_have_count(0)
    expect(page.locator("#mine li", has_text=name)).to_have_count(1)
    expect(page.locator("#conv-name")).to_have_text(name)


def who_got_the_offer(pages: list[Page], name: str, timeout: float = 10.0) -> Page:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for page in pages:
            if offer_for(page, name).count():
                return page
        time.sleep(0.1)
    raise AssertionError(f"no agent was offered the conversation with {name}")


def queue_item(page: Page, name: str) -> Locator:
    """The waiting list, refreshed now rather than at the next 5 s poll."""
    page.get_by_role("button", name="Refresh queue").click()
    return page.locator("#queue li", has_text=name)


def test_visitor_and_agent_talk_through_the_pages(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    a_ctx, agent = new_page(browser, page_errors)
    signed_in(agent, web, "alice")
    start_visitor_chat(visitor, web, "Vera Lind", "vera@example.com", "Orders and delivery")
    visitor_says(visitor, "My parcel never arrived")

    # The router offers the conversation to alice, the one agent available.
    accept_offer(agent, "Vera Lind")
    mine = agent.locator("#mine li", has_text="Vera Lind")
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
    signed_in(agent, web, "bob")
    start_visitor_chat(visitor, web, "Rui Costa", "rui@example.com", "Billing and payments")
    visitor_says(visitor, "I was charged twice")
    accept_offer(agent, "Rui Costa")
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


def test_a_real_offer_counts_down_and_accept_assigns_it(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    a_ctx, agent = new_page(browser, page_errors)
    signed_in(agent, web, "alice")
    start_visitor_chat(visitor, web, "Omar Haddad", "omar@example.com", "Billing and payments")
    visitor_says(visitor, "I'd like a refund for order 7731")

    offer = offer_for(agent, "Omar Haddad")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("webchat")
    expect(offer).to_contain_text("Queue: default")
    # The server's offer lasts 30 s: the countdown starts there and runs down.
    countdown = offer.locator(".offer-countdown")
    expect(countdown).to_have_text(re.compile(r"^(30|29|28)s$"))
    expect(countdown).to_have_text(re.compile(r"^2[4-6]s$"), timeout=6000)
    expect(agent).to_have_title(re.compile(r"^\(1\) "))
    # Offered to me: the waiting list says so and can accept it too.
    mine_in_queue = queue_item(agent, "Omar Haddad")
    expect(mine_in_queue).to_contain_text("for you")
    expect(mine_in_queue.get_by_role("button")).to_have_text("Accept")

    offer_id = agent.evaluate("() => [...window.__switchboard.state.offers.keys()][0]")
    offer.get_by_role("button", name="Accept").click()
    sent = agent.evaluate("() => window.__switchboard.sent.filter(f => f.type === 'accept')")
    assert sent == [{"type": "accept", "offer_id": offer_id}]
    expect(offer).to_have_count(0)
    expect(agent.locator("#offers-section")).to_be_hidden()
    expect(agent.locator("#mine li", has_text="Omar Haddad")).to_have_count(1)
    expect(agent.locator("#transcript li.msg-customer")).to_have_text(re.compile("refund"))
    expect(agent.locator("#conv-sub")).to_contain_text("assigned")
    expect(visitor.locator("#status-line")).to_contain_text("chatting")
    expect(queue_item(agent, "Omar Haddad")).to_have_count(0)
    v_ctx.close()
    a_ctx.close()


def test_a_rejected_offer_goes_to_the_next_agent(
    browser: Browser, web: Server, page_errors: PageErrors
):
    (v_ctx, a_ctx, b_ctx), visitor, alice, bob = visitor_and_two_agents(browser, web, page_errors)
    start_visitor_chat(visitor, web, "Lena Berg", "lena@example.com", "Technical problem")
    visitor_says(visitor, "The export button does nothing")

    first = who_got_the_offer([alice, bob], "Lena Berg")
    second = bob if first is alice else alice
    expect(offer_for(second, "Lena Berg")).to_have_count(0)
    offer_for(first, "Lena Berg").get_by_role("button", name="Reject").click()
    expect(offer_for(first, "Lena Berg")).to_have_count(0)

    # Now it rings at the other agent; the first sees it in the waiting list
    # as offered (to someone else), with Take still possible.
    expect(offer_for(second, "Lena Berg")).to_be_visible()
    ringing = queue_item(first, "Lena Berg")
    expect(ringing).to_contain_text("offered")
    expect(ringing).not_to_contain_text("for you")
    expect(ringing.get_by_role("button")).to_have_text("Take")

    accept_offer(second, "Lena Berg")
    expect(second.locator("#transcript li.msg-customer")).to_have_text(re.compile("export"))
    expect(queue_item(first, "Lena Berg")).to_have_count(0)
    expect(first.locator("#mine li")).to_have_count(0)
    expect(visitor.locator("#status-line")).to_contain_text("chatting")
    for ctx in (v_ctx, a_ctx, b_ctx):
        ctx.close()


def test_away_agents_see_it_waiting_and_a_manual_take_withdraws_the_offer(
    browser: Browser, web: Server, page_errors: PageErrors
):
    (v_ctx, a_ctx, b_ctx), visitor, alice, bob = visitor_and_two_agents(browser, web, page_errors)
    set_presence(alice, web, "alice", "away")
    set_presence(bob, web, "bob", "away")

    start_visitor_chat(visitor, web, "Noor Saleh", "noor@example.com", "My account")
    visitor_says(visitor, "I can't log in since this morning")
    # Nobody is available: it waits in the queue, and nobody is offered it.
    for page in (alice, bob):
        waiting = queue_item(page, "Noor Saleh")
        expect(waiting).to_contain_text("queued")
        expect(page.locator("#offers li")).to_have_count(0)

    # Alice comes back: the router offers it to her.
    set_presence(alice, web, "alice", "available")
    expect(offer_for(alice, "Noor Saleh")).to_be_visible()
    expect(queue_item(bob, "Noor Saleh")).to_contain_text("offered")

    # Bob (still away) takes it by hand: alice's offer is withdrawn.
    bob_item = bob.locator("#queue li", has_text="Noor Saleh")
    bob_item.get_by_role("button", name=re.compile("^Take")).click()
    expect(bob.locator("#mine li", has_text="Noor Saleh")).to_have_count(1)
    expect(bob.locator("#transcript li.msg-customer")).to_have_text(re.compile("log in"))
    expect(offer_for(alice, "Noor Saleh")).to_have_count(0)
    expect(alice.locator("#toasts")).to_contain_text("taken by someone else")
    expect(visitor.locator("#status-line")).to_contain_text("chatting")
    expect(queue_item(alice, "Noor Saleh")).to_have_count(0)
    for ctx in (v_ctx, a_ctx, b_ctx):
        ctx.close()


def test_supervisor_console_shows_live_operations_and_sentiment_alerts(
    browser: Browser, web: Server, page_errors: PageErrors
):
    v_ctx, visitor = new_page(browser, page_errors)
    s_ctx, sam = new_page(browser, page_errors)
    signed_in(sam, web, "sam")
    ops = sam.locator("#ops")
    expect(ops).to_be_visible()
    # Supervisors watch; they are not routed work. Alice is away for now.
    a_ctx, alice = new_page(browser, page_errors)
    signed_in(alice, web, "alice")
    set_presence(alice, web, "alice", "away")
    expect(sam.locator("#ops-agents li", has_text="alice")).to_contain_text("Away")
    default = sam.locator("#ops-queues tr[data-queue='default']")
    expect(default.locator(".waiting")).to_have_text("0")
    expect(sam.locator("#ops-agents li", has_text="sam")).to_have_count(0)

    start_visitor_chat(visitor, web, "Greta Holm", "greta@example.com", "Billing and payments")
    visitor_says(visitor, ANGRY)

    # Nobody is available: the queue count goes up, the wait is counted...
    expect(default.locator(".waiting")).to_have_text("1")
    expect(default.locator(".offered")).to_have_text("0")
    expect(default.locator(".longest")).to_have_text(re.compile(r"^\d+s$"))
    # ... and the angry message raises an alert that points at the conversation.
    alert = sam.locator("#ops-alerts li", has_text="Greta Holm")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("\u22120.")
    waiting = sam.locator("#queue li", has_text="Greta Holm")
    expect(waiting).to_have_class(re.compile(r"\balerted\b"))
    alert.get_by_role("button").click()
    expect(sam.locator("#conv-name")).to_have_text("Greta Holm")
    expect(sam.locator("#transcript li.msg-customer")).to_contain_text("THIRD time")
    expect(waiting).to_have_attribute("aria-current", "true")
    expect(alert.get_by_role("button")).to_have_attribute("aria-current", "true")

    # Alice becomes available: the conversation is offered to her, then assigned.
    set_presence(alice, web, "alice", "available")
    expect(offer_for(alice, "Greta Holm")).to_contain_text("mood \u22120.")
    alice_row = sam.locator("#ops-agents li", has_text="alice")
    expect(default.locator(".waiting")).to_have_text("0")
    expect(default.locator(".offered")).to_have_text("1")
    expect(alice_row).to_contain_text("1 offer")
    accept_offer(alice, "Greta Holm")
    expect(default.locator(".offered")).to_have_text("0")
    expect(alice_row).to_contain_text("webchat 1/3")
    expect(alice_row).not_to_contain_text("offer")
    # The mood is on the conversation the agent sees, too.
    expect(alice.locator("#conv-mood .senti")).to_have_text(re.compile("^\u22120\\.\\d\\d$"))
    for ctx in (v_ctx, s_ctx, a_ctx):
        ctx.close()


def test_the_console_shows_what_came_attached_to_an_email(
    browser: Browser, tmp_path: Path, page_errors: PageErrors
):
    srv = start_server(tmp_path, SWITCHBOARD_EMAIL_ADDRESSES="support@example.com")
    with srv:
        ctx, alice = new_page(browser, page_errors)
        signed_in(alice, srv, "alice")
        set_presence(alice, srv, "alice", "away")
        mail = EmailMessage()
        mail["From"] = "Jane Roe <jane@customer.example>"
        mail["To"] = "support@example.com"
        mail["Subject"] = "Wrong invoice"
        mail.set_content("The invoice is attached; the total is wrong.")
        mail.add_attachment(
            b"%PDF-1.4 " + b"x" * 3000, maintype="application", subtype="pdf", filename="inv.pdf"
        )
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as smtp:
            smtp.send_message(mail)

        queue_item(alice, "Jane Roe").get_by_role("button", name=re.compile("^Take")).click()
        message = alice.locator("#transcript li.msg-customer")
        expect(message.locator(".bubble")).to_contain_text("the total is wrong")
        files = message.locator(".attachment")
        expect(files).to_have_count(1)
        expect(files).to_contain_text("inv.pdf")
        expect(files).to_contain_text("application/pdf · 3 KB")
        ctx.close()


def test_an_agent_sees_no_operations_panel(browser: Browser, web: Server, page_errors: PageErrors):
    ctx, page = new_page(browser, page_errors)
    signed_in(page, web, "bob")
    expect(page.locator("#ops")).to_be_hidden()
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
        accept_offer(agent, "Kai Lenz")
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
