"""Stand-in providers for the channel tests, one per test (they are cheap)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

from tests.standins.graph_api import GraphStandin
from tests.standins.payloads import ACCOUNT_SID, PHONE_NUMBER_ID
from tests.standins.smtp_sink import SmtpSink
from tests.standins.telegram_api import TelegramStandin
from tests.standins.twilio_api import TwilioStandin

AUTH_TOKEN = "12345678901234567890123456789012"
PAGE_TOKEN = "EAAG-page-token"
WHATSAPP_TOKEN = "EAAG-whatsapp-token"
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
T = TypeVar("T")


@pytest.fixture
async def twilio_api() -> AsyncIterator[TwilioStandin]:
    async with TwilioStandin(ACCOUNT_SID, AUTH_TOKEN) as standin:
        yield standin


@pytest.fixture
async def graph_api() -> AsyncIterator[GraphStandin]:
    async with GraphStandin(
        page_token=PAGE_TOKEN, whatsapp_token=WHATSAPP_TOKEN, phone_number_id=PHONE_NUMBER_ID
    ) as standin:
        yield standin


@pytest.fixture
async def telegram_api() -> AsyncIterator[TelegramStandin]:
    async with TelegramStandin(BOT_TOKEN) as standin:
        yield standin


@pytest.fixture
async def smtp_relay() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as sink:
        yield sink


class RecordingSleep:
    """Injected in place of ``asyncio.sleep``: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def no_sleep() -> RecordingSleep:
    return RecordingSleep()


class Closer:
    """Closes every sender a test made, so no HTTP client outlives its test."""

    def __init__(self) -> None:
        self.senders: list[Any] = []

    def __call__(self, sender: T) -> T:
        self.senders.append(sender)
        return sender


@pytest.fixture
async def closing() -> AsyncIterator[Closer]:
    closer = Closer()
    yield closer
    for sender in closer.senders:
        await sender.aclose()
