"""What the channels hand to the gateway: normalised inbound events.

Every parser in ``channels`` turns provider wire traffic into one of these
frozen records, so the store sees one shape whatever the channel. The
``external_id`` of each record is its idempotency key: a provider retry or
duplicate delivery yields the same key, and the store absorbs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from channels.identity import IdentityKey, identity_key

Channel = Literal["sms", "email", "messenger", "whatsapp", "telegram"]
DeliveryStatus = Literal["queued", "sent", "delivered", "failed", "undelivered", "read"]

CHANNELS: tuple[Channel, ...] = ("sms", "email", "messenger", "whatsapp", "telegram")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file or media item.

    Exactly how the bytes are reached depends on the channel: ``url`` (Twilio
    MMS, Messenger; fetch with ``channels.media.fetch_media``), ``content``
    (email: already in hand) or ``provider_ref`` (WhatsApp media id, Telegram
    file id; resolved through the provider's API).
    """

    content_type: str
    filename: str | None = None
    size: int | None = None
    url: str | None = None
    content: bytes | None = field(default=None, repr=False)
    provider_ref: str | None = None
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Threading:
    """Hints that tie a message to an earlier conversation.

    ``token`` comes from a plus-addressed recipient (``support+<token>@...``)
    that we put in the ``Reply-To`` of our own mail, so it is the strongest
    hint; ``in_reply_to`` / ``references`` are Message-IDs, and
    ``reply_to_external_id`` is the provider id a social reply quotes.
    """

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    token: str | None = None
    reply_to_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoopFlags:
    """Signs that a message was sent by a machine. Never auto-answer a flagged message:
    that is how mail loops and autoresponder ping-pong start."""

    auto_submitted: bool = False
    bulk: bool = False
    bounce: bool = False

    @property
    def automated(self) -> bool:
        return self.auto_submitted or self.bulk or self.bounce


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message as it came in on a channel.

    ``text`` is what an agent should see (for email: sanitised, quoted
    history stripped); ``original`` keeps everything we received (for email:
    the full text, and ``html`` the sanitised HTML) so nothing is lost.
    """

    channel: Channel
    external_id: str
    sender: str
    text: str
    received_at: datetime
    sender_name: str | None = None
    original: str | None = None
    html: str | None = None
    subject: str | None = None
    recipient: str | None = None
    attachments: tuple[Attachment, ...] = ()
    threading: Threading = field(default_factory=Threading)
    flags: LoopFlags = field(default_factory=LoopFlags)
    edited: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> IdentityKey:
        """The sender's identity key, so the same person maps to one customer."""
        return identity_key(self.channel, self.sender)


@dataclass(frozen=True, slots=True)
class DeliveryStatusUpdate:
    """News about one of OUR outbound messages.

    ``external_id`` is the provider's id for it (what ``SendResult`` returned;
    for email, our Message-ID). Messenger read receipts carry no id but a
    ``watermark``: every message to ``recipient`` sent at or before it has
    reached ``status``; then ``external_id`` is ``None``.
    """

    channel: Channel
    external_id: str | None
    status: DeliveryStatus
    occurred_at: datetime
    recipient: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    watermark: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OptOut:
    """A customer asked (by SMS keyword) to receive no more messages from ``recipient``."""

    channel: Channel
    external_id: str
    sender: str
    recipient: str | None
    keyword: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class OptIn:
    """A customer who opted out asked (by SMS keyword) to receive messages again."""

    channel: Channel
    external_id: str
    sender: str
    recipient: str | None
    keyword: str
    received_at: datetime


InboundEvent = InboundMessage | DeliveryStatusUpdate | OptOut | OptIn
