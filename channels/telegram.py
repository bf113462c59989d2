"""Telegram Bot API: webhook secret check, update parsing, ``sendMessage``.

Telegram signs nothing; instead ``setWebhook(secret_token=...)`` makes it send
``X-Telegram-Bot-Api-Secret-Token`` with every update, which we compare in
constant time. Message ids are only unique within a chat, so the idempotency
key is ``<chat id>:<message id>`` (edits add ``:edit:<edit_date>``, so each
edit is its own event and a redelivered edit is not).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field

from channels.errors import PermanentSendError, TransientSendError
from channels.http_json import JsonPoster, retry_after_header
from channels.inbound import Attachment, Channel, InboundMessage, Threading
from channels.outbound import OutboundMessage, SendResult, check_outbound
from channels.webhook import PayloadModel, validate_payload
from egress import Policy

__all__ = [
    "TELEGRAM_API_BASE",
    "TelegramSender",
    "parse_telegram_update",
    "verify_telegram_secret",
]

TELEGRAM_API_BASE = "https://api.telegram.org"
MAX_TEXT_CHARS = 4096


def verify_telegram_secret(expected: str, header: str | None) -> bool:
    """True when ``header`` (``X-Telegram-Bot-Api-Secret-Token``) equals our secret."""
    if not expected or header is None:
        return False
    return hmac.compare_digest(expected.encode(), header.encode())


class _User(PayloadModel):
    id: int
    is_bot: bool = False
    first_name: str
    last_name: str | None = None
    username: str | None = None


class _Chat(PayloadModel):
    id: int
    type: str


class _PhotoSize(PayloadModel):
    file_id: str
    file_size: int | None = None
    width: int = 0
    height: int = 0


class _Document(PayloadModel):
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class _Replied(PayloadModel):
    message_id: int


class _Message(PayloadModel):
    message_id: int
    from_: _User | None = Field(default=None, alias="from")
    chat: _Chat
    date: int
    edit_date: int | None = None
    text: str | None = None
    caption: str | None = None
    photo: list[_PhotoSize] = []
    document: _Document | None = None
    reply_to_message: _Replied | None = None


class _Update(PayloadModel):
    update_id: int
    message: _Message | None = None
    edited_message: _Message | None = None


def _name(user: _User | None) -> str | None:
    if user is None:
        return None
    full = " ".join(x for x in (user.first_name, user.last_name) if x)
    return full or user.username


def parse_telegram_update(payload: Any) -> InboundMessage | None:
    """The customer message in an update, or ``None`` for update kinds we do not handle
    (answer 200 anyway, or Telegram redelivers them).

    Raises:
        ChannelPayloadError: the payload does not have the documented shape.
    """
    update = validate_payload(_Update, payload, "Telegram")
    message = update.message or update.edited_message
    if message is None:
        return None
    edited = update.message is None
    chat_id = str(message.chat.id)
    external_id = f"{chat_id}:{message.message_id}"
    if edited:
        external_id += f":edit:{message.edit_date or update.update_id}"
    attachments: list[Attachment] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: p.width * p.height)
        attachments.append(
            Attachment(
                content_type="image/jpeg", size=largest.file_size, provider_ref=largest.file_id
            )
        )
    if message.document is not None:
        doc = message.document
        attachments.append(
            Attachment(
                content_type=doc.mime_type or "application/octet-stream",
                filename=doc.file_name,
                size=doc.file_size,
                provider_ref=doc.file_id,
            )
        )
    text = message.text if message.text is not None else (message.caption or "")
    reply_to = message.reply_to_message
    return InboundMessage(
        channel="telegram",
        external_id=external_id,
        sender=chat_id,
        sender_name=_name(message.from_),
        text=text,
        original=text,
        received_at=datetime.fromtimestamp(message.edit_date or message.date, UTC),
        attachments=tuple(attachments),
        threading=Threading(
            reply_to_external_id=f"{chat_id}:{reply_to.message_id}" if reply_to else None
        ),
        edited=edited,
        metadata={
            "update_id": update.update_id,
            "chat_type": message.chat.type,
            "user_id": message.from_.id if message.from_ else None,
            "username": message.from_.username if message.from_ else None,
        },
    )


class TelegramSender:
    """Sends text with ``sendMessage``; the provider id is ``<chat id>:<message id>``,
    the same form inbound messages use."""

    channel: Channel = "telegram"

    def __init__(
        self,
        *,
        bot_token: str,
        api_base: str = TELEGRAM_API_BASE,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        egress: Policy | None = None,
    ) -> None:
        self._url = f"{api_base.rstrip('/')}/bot{bot_token}/sendMessage"
        # The token is part of the URL: keep it out of every error message.
        self._poster = JsonPoster(
            client=client,
            timeout=timeout,
            api_base=api_base,
            egress=egress,
            secrets=(bot_token,),
        )

    async def send(self, msg: OutboundMessage) -> SendResult:
        check_outbound(msg, "telegram", MAX_TEXT_CHARS)
        response, body = await self._poster.post(
            self._url, {"chat_id": msg.recipient, "text": msg.text}
        )
        if isinstance(body, dict) and body.get("ok") is True:
            result = body.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            if not isinstance(message_id, int):
                raise TransientSendError("Telegram answered ok without result.message_id")
            return SendResult("telegram", f"{msg.recipient}:{message_id}", "sent")
        raise self._error(response, body)

    def _error(
        self, response: httpx.Response, body: Any
    ) -> TransientSendError | PermanentSendError:
        body = body if isinstance(body, dict) else {}
        code = body.get("error_code", response.status_code)
        description = self._poster.redact(str(body.get("description") or response.reason_phrase))
        text = f"Telegram answered {code}: {description}"
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if not isinstance(retry_after, int | float):
            retry_after = retry_after_header(response)
        if code == 429 or response.status_code >= 500 or (isinstance(code, int) and code >= 500):
            return TransientSendError(
                text, code=str(code), status=response.status_code, retry_after=retry_after
            )
        return PermanentSendError(text, code=str(code), status=response.status_code)

    async def aclose(self) -> None:
        await self._poster.aclose()
