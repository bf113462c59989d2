"""What the gateway hands to the channels to send, and the contract every sender keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from channels.inbound import Channel, DeliveryStatus


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One reply to deliver.

    ``message_id`` is OUR id for the message; email senders derive the
    Message-ID from it so a retried send keeps the same Message-ID and a bounce
    names it. ``reply_token`` (email) is put in a plus-addressed ``Reply-To`` so
    the customer's reply finds its conversation.
    """

    channel: Channel
    recipient: str
    text: str
    message_id: str
    subject: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_token: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message.

    ``provider_message_id`` is what later ``DeliveryStatusUpdate`` records
    carry as ``external_id``.
    """

    channel: Channel
    provider_message_id: str
    status: DeliveryStatus


class Sender(Protocol):
    """Sends one message on one channel.

    Raises ``TransientSendError`` when trying again later may work and
    ``PermanentSendError`` when it cannot; never returns on failure.
    """

    channel: Channel

    async def send(self, msg: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None:
        """Release connections; call once at shutdown."""


def check_outbound(msg: OutboundMessage, channel: Channel, max_chars: int) -> None:
    """Refuse, before any network call, a message this sender can never deliver.

    Raises:
        PermanentSendError: wrong channel, empty text, or text over the provider's limit.
    """
    from channels.errors import PermanentSendError

    if msg.channel != channel:
        raise PermanentSendError(f"a {channel} sender cannot send a {msg.channel} message")
    if not msg.text.strip():
        raise PermanentSendError("refusing to send an empty message")
    if len(msg.text) > max_chars:
        raise PermanentSendError(
            f"{channel} text is {len(msg.text)} characters, over the limit of {max_chars}"
        )
