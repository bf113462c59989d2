"""Browser fixtures: one SQLite-backed gateway and one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT_PASSWORD = "correct horse battery"
EXPECTED_BROWSER_LOGS = ("Failed to load resource", "WebSocket connection to")


def start_server(workdir: Path, **env: str) -> Server:
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3", **env)
    srv.add_user("alice", AGENT_PASSWORD, "agent")
    srv.add_user("bob", AGENT_PASSWORD, "agent")
    srv.add_user("sam", AGENT_PASSWORD, "supervisor")
    return srv


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway of our own (SQLite) with agents alice and bob, supervisor sam."""
    srv = start_server(tmp_path_factory.mktemp("browser-server"))
    with srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class PageErrors:
    """Uncaught script errors on a page; a test fails if any happened.

    Chromium itself logs HTTP error replies the pages handle (a 401 for a
    wrong password, a 409) and websocket connects refused while a server
    restarts; those are expected.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"{page.url}: console {msg.type}: {msg.text}")
                if msg.type == "error" and not msg.text.startswith(EXPECTED_BROWSER_LOGS)
                else None
            ),
        )
        return page


@pytest.fixture
def page_errors() -> Iterator[PageErrors]:
    errors = PageErrors()
    yield errors
    assert errors.errors == []
