from __future__ import annotations

from typing import Any

import pytest

from channels.errors import ChannelPayloadError, PermanentSendError, TransientSendError
from channels.outbound import OutboundMessage
from channels.retry import Delivered, RetryPolicy, send_with_retry
from channels.telegram import TelegramSender, parse_telegram_update, verify_telegram_secret
from tests.channels.conftest import BOT_TOKEN, Closer, RecordingSleep
from tests.standins import payloads
from tests.standins.http import Failure
from tests.standins.signing import telegram_request
from tests.standins.telegram_api import TelegramStandin, telegram_error


def test_secret_header() -> None:
    _, headers = telegram_request("s3cret", payloads.telegram_message())
    assert verify_telegram_secret("s3cret", headers["X-Telegram-Bot-Api-Secret-Token"])
    assert not verify_telegram_secret("s3cret", "s3cre")
    assert not verify_telegram_secret("s3cret", None)
    assert not verify_telegram_secret("", "")


def test_message_update() -> None:
    msg = parse_telegram_update(payloads.telegram_message("Where is my parcel?"))
    assert msg is not None
    assert (msg.channel, msg.external_id, msg.sender, msg.sender_name, msg.text) == (
        "telegram",
        "1111111:1365",
        "1111111",
        "Test Lastname",
        "Where is my parcel?",
    )
    assert msg.metadata["update_id"] == 10000
    assert msg.identity == ("telegram", "1111111")


def test_redelivered_update_has_same_external_id() -> None:
    first = parse_telegram_update(payloads.telegram_message())
    second = parse_telegram_update(payloads.telegram_message())
    assert first is not None and second is not None
    assert first.external_id == second.external_id


def test_edited_message_is_its_own_event() -> None:
    original = parse_telegram_update(payloads.telegram_message("helo"))
    edited = parse_telegram_update(payloads.telegram_edited("hello"))
    assert original is not None and edited is not None
    assert edited.edited and edited.text == "hello"
    assert edited.external_id != original.external_id


def test_update_kinds_we_do_not_handle_yield_none() -> None:
    assert parse_telegram_update({"update_id": 5, "callback_query": {"id": "1"}}) is None


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"update_id": "x"},
        {"update_id": 1, "message": {"message_id": 1, "date": 1}},
        {
            "update_id": 1,
            "message": {"message_id": 1, "chat": {"id": "abc", "type": "private"}, "date": 1},
        },
        [],
    ],
)
def test_malformed_update_is_rejected(payload: Any) -> None:
    with pytest.raises(ChannelPayloadError, match="malformed Telegram"):
        parse_telegram_update(payload)


def sender_for(closing: Closer, api: TelegramStandin, token: str = BOT_TOKEN) -> TelegramSender:
    return closing(TelegramSender(bot_token=token, api_base=api.base_url, timeout=5))


async def test_send_message(closing: Closer, telegram_api: TelegramStandin) -> None:
    sender = sender_for(closing, telegram_api)
    result = await sender.send(OutboundMessage("telegram", "1111111", "Tomorrow.", "msg_1"))
    assert result.provider_message_id == "1111111:100"
    [received] = telegram_api.received
    assert received.token == BOT_TOKEN
    assert received.body == {"chat_id": "1111111", "text": "Tomorrow."}


async def test_rate_limit_is_transient_with_retry_after(
    closing: Closer, telegram_api: TelegramStandin
) -> None:
    telegram_api.failures.add(
        telegram_error(429, "Too Many Requests: retry after 7", retry_after=7)
    )
    with pytest.raises(TransientSendError) as info:
        await sender_for(closing, telegram_api).send(OutboundMessage("telegram", "1", "x", "m"))
    assert info.value.retry_after == 7


async def test_retry_waits_at_least_retry_after(
    closing: Closer, telegram_api: TelegramStandin, no_sleep: RecordingSleep
) -> None:
    telegram_api.failures.add(
        telegram_error(429, "Too Many Requests: retry after 7", retry_after=7)
    )
    outcome = await send_with_retry(
        sender_for(closing, telegram_api),
        OutboundMessage("telegram", "1", "x", "m"),
        RetryPolicy(base_delay=1),
        sleep=no_sleep,
    )
    assert isinstance(outcome, Delivered) and outcome.attempts == 2
    assert no_sleep.delays == [7]


@pytest.mark.parametrize(
    "failure",
    [
        telegram_error(403, "Forbidden: bot was blocked by the user"),
        telegram_error(400, "Bad Request: chat not found"),
    ],
)
async def test_blocked_or_unknown_chat_is_permanent(
    closing: Closer, telegram_api: TelegramStandin, failure: Failure
) -> None:
    telegram_api.failures.add(failure)
    with pytest.raises(PermanentSendError):
        await sender_for(closing, telegram_api).send(OutboundMessage("telegram", "1", "x", "m"))


async def test_server_error_without_json_is_transient(
    closing: Closer, telegram_api: TelegramStandin
) -> None:
    telegram_api.failures.add(Failure(502, "Bad Gateway"))
    with pytest.raises(TransientSendError):
        await sender_for(closing, telegram_api).send(OutboundMessage("telegram", "1", "x", "m"))


async def test_bad_token_is_permanent_and_not_leaked(
    closing: Closer, telegram_api: TelegramStandin
) -> None:
    with pytest.raises(PermanentSendError) as info:
        await sender_for(closing, telegram_api, token="999:leaky").send(
            OutboundMessage("telegram", "1", "x", "m")
        )
    assert "leaky" not in str(info.value)


async def test_unreachable_api_is_transient_and_token_not_leaked(
    closing: Closer,
) -> None:
    sender = closing(
        TelegramSender(bot_token="999:leaky", api_base="http://127.0.0.1:9", timeout=5)
    )
    with pytest.raises(TransientSendError) as info:
        await sender.send(OutboundMessage("telegram", "1", "x", "m"))
    assert "leaky" not in str(info.value)
