"""The pages run under a strict Content Security Policy: their own scripts
work, an injected inline script does not, and nothing else is framed or
loaded."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Error

from tests.support.server import Server

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/", "/chat"])
def test_pages_send_a_policy_without_inline_script(web: Server, path: str) -> None:
    reply = httpx.get(web.http + path)
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy if path == "/" else "frame-ancestors 'self'" in policy
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_an_injected_inline_script_does_not_run(web: Server, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console", lambda msg: refused.append(msg.text) if "Content Security" in msg.text else None
    )
    page.goto(web.http + "/chat")
    page.wait_for_selector("form")  # the widget's own module ran
    with pytest.raises(Error):
        page.add_script_tag(content="window.__injected = true")
    assert page.evaluate("window.__injected === undefined")
    assert refused, "Chromium did not report the refused script"
    context.close()
