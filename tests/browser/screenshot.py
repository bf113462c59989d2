"""Take docs/screenshot.png: the agent console mid-conversation, against a real gateway.

    .venv/bin/python -m tests.browser.screenshot [OUT.png]

Everything on the picture comes from running code: a `switchboard serve`
process, visitors typing into the real widget, the router offering their
conversations to the agent, who accepts them in the real console, and the
server's own sentiment scoring. Nothing is injected into the page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import AGENT_PASSWORD, CHROMIUM, CHROMIUM_ARGS
from tests.support.server import Server

SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


def visitor(browser: Browser, srv: Server, query: str, name: str, email: str, topic: str) -> Page:
    context = browser.new_context(viewport={"width": 420, "height": 700}, user_agent=SAFARI)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{srv.http}/chat?{query}")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Topic").select_option(label=topic)
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#chat")).to_be_visible()
    return page


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Type your message")
    box.fill(text)
    box.press("Enter")
    expect(page.locator("#transcript li.msg-customer:not(.pending)", has_text=text)).to_have_count(
        1
    )


def reply(agent: Page, text: str) -> None:
    agent.get_by_label("Reply").fill(text)
    agent.get_by_label("Reply").press("Enter")
    expect(agent.locator("#transcript li.msg-agent:not(.pending)", has_text=text)).to_have_count(1)


def earlier_conversation(srv: Server, token: str) -> None:
    """Daniel wrote in last month about billing; it was closed."""
    headers = {"Authorization": f"Bearer {token}"}
    session = httpx.post(
        srv.http + "/api/v1/webchat/sessions",
        json={
            "name": "Daniel Okafor",
            "email": "daniel.okafor@example.com",
            "prechat": {"topic": "Billing and payments"},
        },
    ).json()
    cid = session["conversation_id"]
    httpx.post(f"{srv.http}/api/v1/conversations/{cid}/assign", headers=headers).raise_for_status()
    httpx.post(f"{srv.http}/api/v1/conversations/{cid}/close", headers=headers).raise_for_status()


def accept(agent: Page, name: str) -> None:
    """The router offers the conversation to the agent: Accept it."""
    offer = agent.locator("#offers li", has_text=name)
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Accept").click()
    expect(agent.locator("#mine li", has_text=name)).to_have_count(1)
    agent.locator("#mine li", has_text=name).click()
    expect(agent.locator("#conv-name")).to_have_text(name)


def main(out: Path, widget: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3")
        result = srv.cli(
            "users", "add", "maya", "--role", "agent", "--display-name", "Maya Chen",
            "--password-stdin", stdin=AGENT_PASSWORD + "\n",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        with srv, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            token = httpx.post(
                srv.http + "/api/v1/auth/token",
                json={"username": "maya", "password": AGENT_PASSWORD},
            ).json()["access_token"]
            earlier_conversation(srv, token)

            # Maya is signed in and available before anyone writes: the
            # router offers each new conversation to her.
            context = browser.new_context(viewport={"width": 1400, "height": 850})
            context.set_default_timeout(10_000)
            agent = context.new_page()
            agent.goto(srv.http + "/")
            agent.get_by_label("Username").fill("maya")
            agent.get_by_label("Password").fill(AGENT_PASSWORD)
            agent.get_by_role("button", name="Sign in").click()
            expect(agent.locator("#conn-state")).to_have_text("Connected")

            tom = visitor(
                browser, srv, "page=https://shop.example.com/p/trail-runner-2",
                "Tom Becker", "tom.becker@example.com", "Orders and delivery",
            )  # fmt: skip
            say(tom, "Hi! Is the Trail Runner 2 available in size 44?")
            accept(agent, "Tom Becker")
            expect(agent.locator("#transcript li.msg-customer")).to_have_count(1)
            reply(agent, "Hi Tom, let me check the stock for you.")

            daniel = visitor(
                browser, srv,
                "page=https://shop.example.com/account/orders/48213"
                "&ctx.order=48213&ctx.plan=Premium%20member&ctx.cart_value=%E2%82%AC129.00",
                "Daniel Okafor", "daniel.okafor@example.com", "Orders and delivery",
            )  # fmt: skip
            say(daniel, "Hi, my order #48213 was due yesterday but the tracking hasn't moved "
                        "since Monday. This is really frustrating.")  # fmt: skip
            accept(agent, "Daniel Okafor")
            reply(agent, "Hi Daniel, I'm sorry about the wait! Let me look into order #48213.")
            reply(agent, "It was held at our Leeds depot after a scanning error. "
                         "I've asked them to release it today.")  # fmt: skip
            say(daniel, "Thanks, that's a relief. Will it still arrive before the weekend?")
            expect(agent.locator("#transcript li.msg-customer")).to_have_count(2)
            # The server scores every customer message and sends `sentiment` frames.
            expect(agent.locator("#transcript li.msg-customer .senti")).to_have_count(2)

            say(tom, "Also, do you ship to Norway?")
            expect(agent.locator("#mine .unread-count")).to_have_text("1")
            priya = visitor(
                browser, srv, "page=https://shop.example.com/login",
                "Priya Natarajan", "priya.n@example.com", "My account",
            )  # fmt: skip
            say(priya, "I can't reset my password, the email never arrives.")
            # Priya's offer is left ringing in the Incoming panel.
            expect(agent.locator("#offers li", has_text="Priya Natarajan")).to_be_visible()
            agent.locator("#queue-refresh").click()
            expect(agent.locator("#queue li", has_text="for you")).to_have_count(1)
            expect(agent.locator("#toasts .toast")).to_have_count(0)

            agent.get_by_label("Reply").fill("Yes, it's booked on the Friday morning van")
            daniel.get_by_label("Type your message").press_sequentially("Great")
            expect(agent.locator("#typing")).to_be_visible()
            agent.locator("#reply").blur()
            agent.mouse.move(700, 300)
            agent.screenshot(path=str(out))
            if widget is not None:
                daniel.screenshot(path=str(widget))
            browser.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0] if args else "docs/screenshot.png"), Path(args[1]) if len(args) > 1 else None)
