"""Messenger and WhatsApp Cloud API: webhook handshake, signatures, parsing, sending.

Both come from Meta's Graph platform and share its conventions: a GET
handshake (``hub.mode``/``hub.verify_token``/``hub.challenge``) when the
webhook is registered, ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body
with the app secret) on every POST, and Graph error bodies
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``.
Payloads are validated with pydantic models of the documented shapes;
anything else is a ``ChannelPayloadError`` naming the bad field.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field

from channels.errors import ChannelPayloadError, PermanentSendError, TransientSendError
from channels.http_json import JsonPoster, retry_after_header
from channels.inbound import (
    Attachment,
    Channel,
    DeliveryStatus,
    DeliveryStatusUpdate,
    InboundMessage,
    Threading,
)
from channels.outbound import OutboundMessage, SendResult, check_outbound
from channels.webhook import PayloadModel as _Model
from channels.webhook import validate_payload as _validate
from egress import Policy

__all__ = [
    "META_API_BASE",
    "MessengerSender",
    "WhatsAppSender",
    "parse_messenger",
    "parse_whatsapp",
    "verify_handshake",
    "verify_meta_signature",
]

META_API_BASE = "https://graph.facebook.com/v21.0"
MESSENGER_MAX_CHARS = 2000
WHATSAPP_MAX_CHARS = 4096
# Graph error codes that mean "later", whatever the HTTP status: throttling
# (4, 17, 32, 613, 80007, 130429, 131048, 131056) and service trouble (1, 2, 131000, 133004).
_TRANSIENT_GRAPH_CODES = frozenset(
    {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
)


def verify_handshake(params: Mapping[str, str], verify_token: str) -> str | None:
    """The ``hub.challenge`` to echo when Meta's subscription handshake is ours, else ``None``
    (answer 403)."""
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    offered = params.get("hub.verify_token", "")
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    challenge = params.get("hub.challenge")
    return challenge or None


def verify_meta_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """True when ``header`` (``X-Hub-Signature-256: sha256=<hex>``) signs ``raw_body``."""
    if not app_secret or not header:
        return False
    scheme, _, signature = header.strip().partition("=")
    if scheme.lower() != "sha256" or not signature:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.lower().encode())


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _from_seconds(value: str | int) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ChannelPayloadError(f"expected a Unix timestamp, got {value!r}") from exc


# -- Messenger -------------------------------------------------------------


class _Party(_Model):
    id: str


class _MessengerAttachmentPayload(_Model):
    url: str | None = None


class _MessengerAttachment(_Model):
    type: str
    payload: _MessengerAttachmentPayload | None = None


class _MessengerReplyTo(_Model):
    mid: str | None = None


class _MessengerMessage(_Model):
    mid: str
    text: str | None = None
    attachments: list[_MessengerAttachment] = []
    is_echo: bool = False
    reply_to: _MessengerReplyTo | None = None


class _MessengerDelivery(_Model):
    mids: list[str] = []
    watermark: int


class _MessengerRead(_Model):
    watermark: int


class _MessengerPostback(_Model):
    title: str | None = None
    payload: str | None = None
    mid: str | None = None


class _MessengerEvent(_Model):
    sender: _Party
    recipient: _Party
    timestamp: int
    message: _MessengerMessage | None = None
    delivery: _MessengerDelivery | None = None
    read: _MessengerRead | None = None
    postback: _MessengerPostback | None = None


class _MessengerEntry(_Model):
    id: str
    time: int | None = None
    messaging: list[_MessengerEvent] = []


class _MessengerWebhook(_Model):
    object: Literal["page"]
    entry: list[_MessengerEntry]


_MESSENGER_MEDIA_TYPES = {
    "image": "image/*",
    "audio": "audio/*",
    "video": "video/*",
    "file": "application/octet-stream",
}


def parse_messenger(payload: Any) -> list[InboundMessage | DeliveryStatusUpdate]:
    """Events of a Messenger webhook POST (``object: page``).

    Messages and postbacks become ``InboundMessage`` (external id: ``mid``);
    ``delivery`` becomes one ``DeliveryStatusUpdate`` per mid, ``read`` one
    watermark update. Echoes of our own sends are skipped: the send result
    already told us about them.

    Raises:
        ChannelPayloadError: the payload does not have the documented shape.
    """
    webhook = _validate(_MessengerWebhook, payload, "Messenger")
    events: list[InboundMessage | DeliveryStatusUpdate] = []
    for entry in webhook.entry:
        for event in entry.messaging:
            when = _from_millis(event.timestamp)
            customer = event.sender.id
            if event.message is not None and not event.message.is_echo:
                message = event.message
                attachments = tuple(
                    Attachment(
                        content_type=_MESSENGER_MEDIA_TYPES.get(a.type, a.type),
                        url=a.payload.url if a.payload else None,
                    )
                    for a in message.attachments
                )
                reply_to = message.reply_to.mid if message.reply_to else None
                events.append(
                    InboundMessage(
                        channel="messenger",
                        external_id=message.mid,
                        sender=customer,
                        recipient=event.recipient.id,
                        text=message.text or "",
                        original=message.text,
                        received_at=when,
                        attachments=attachments,
                        threading=Threading(reply_to_external_id=reply_to),
                        metadata={"page_id": entry.id},
                    )
                )
            elif event.postback is not None:
                postback = event.postback
                events.append(
                    InboundMessage(
                        channel="messenger",
                        # Older postbacks carry no mid; sender + time is unique per postback.
                        external_id=postback.mid or f"postback:{customer}:{event.timestamp}",
                        sender=customer,
                        recipient=event.recipient.id,
                        text=postback.title or postback.payload or "",
                        received_at=when,
                        metadata={"page_id": entry.id, "postback_payload": postback.payload},
                    )
                )
            if event.delivery is not None:
                events.extend(
                    DeliveryStatusUpdate(
                        channel="messenger",
                        external_id=mid,
                        status="delivered",
                        occurred_at=when,
                        recipient=customer,
                        watermark=_from_millis(event.delivery.watermark),
                    )
                    for mid in event.delivery.mids
                )
            if event.read is not None:
                events.append(
                    DeliveryStatusUpdate(
                        channel="messenger",
                        external_id=None,
                        status="read",
                        occurred_at=when,
                        recipient=customer,
                        watermark=_from_millis(event.read.watermark),
                    )
                )
    return events


# -- WhatsApp --------------------------------------------------------------


class _WaProfile(_Model):
    name: str | None = None


class _WaContact(_Model):
    wa_id: str
    profile: _WaProfile | None = None


class _WaText(_Model):
    body: str


class _WaMedia(_Model):
    id: str
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None


class _WaLocation(_Model):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class _WaButton(_Model):
    text: str
    payload: str | None = None


class _WaReply(_Model):
    id: str
    title: str


class _WaInteractive(_Model):
    type: str
    button_reply: _WaReply | None = None
    list_reply: _WaReply | None = None


class _WaContext(_Model):
    id: str | None = None


class _WaMessage(_Model):
    from_: str = Field(alias="from")
    id: str
    timestamp: str
    type: str
    text: _WaText | None = None
    image: _WaMedia | None = None
    document: _WaMedia | None = None
    audio: _WaMedia | None = None
    video: _WaMedia | None = None
    sticker: _WaMedia | None = None
    location: _WaLocation | None = None
    button: _WaButton | None = None
    interactive: _WaInteractive | None = None
    context: _WaContext | None = None


class _WaErrorData(_Model):
    details: str | None = None


class _WaError(_Model):
    code: int
    title: str | None = None
    message: str | None = None
    error_data: _WaErrorData | None = None


class _WaStatus(_Model):
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    errors: list[_WaError] = []


class _WaMetadata(_Model):
    display_phone_number: str | None = None
    phone_number_id: str


class _WaValue(_Model):
    messaging_product: Literal["whatsapp"]
    metadata: _WaMetadata
    contacts: list[_WaContact] = []
    messages: list[_WaMessage] = []
    statuses: list[_WaStatus] = []


class _WaChange(_Model):
    field: str
    value: dict[str, Any]


class _WaEntry(_Model):
    id: str
    changes: list[_WaChange]


class _WaWebhook(_Model):
    object: Literal["whatsapp_business_account"]
    entry: list[_WaEntry]


_WA_STATUS: dict[str, DeliveryStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


def _wa_content(message: _WaMessage) -> tuple[str, tuple[Attachment, ...]]:
    if message.text is not None:
        return message.text.body, ()
    for kind in ("image", "document", "audio", "video", "sticker"):
        media: _WaMedia | None = getattr(message, kind)
        if media is not None:
            attachment = Attachment(
                content_type=media.mime_type or "application/octet-stream",
                filename=media.filename,
                provider_ref=media.id,
            )
            return media.caption or "", (attachment,)
    if message.location is not None:
        loc = message.location
        label = ", ".join(x for x in (loc.name, loc.address) if x)
        return f"{label} ({loc.latitude}, {loc.longitude})".strip(), ()
    if message.button is not None:
        return message.button.text, ()
    if message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        return (reply.title if reply else ""), ()
    return "", ()


def parse_whatsapp(payload: Any) -> list[InboundMessage | DeliveryStatusUpdate]:
    """Events of a WhatsApp Cloud API webhook POST (``object: whatsapp_business_account``).

    ``messages[]`` become ``InboundMessage`` (external id: the ``wamid``,
    sender: the ``wa_id``, name from ``contacts[]``); ``statuses[]`` become
    ``DeliveryStatusUpdate`` for our ``wamid``. Changes other than
    ``messages`` (account and template notices) are ignored.

    Raises:
        ChannelPayloadError: the payload does not have the documented shape.
    """
    webhook = _validate(_WaWebhook, payload, "WhatsApp")
    events: list[InboundMessage | DeliveryStatusUpdate] = []
    for entry in webhook.entry:
        for change in entry.changes:
            if change.field != "messages":
                continue
            value = _validate(_WaValue, change.value, "WhatsApp")
            names = {c.wa_id: c.profile.name for c in value.contacts if c.profile}
            for message in value.messages:
                text, attachments = _wa_content(message)
                events.append(
                    InboundMessage(
                        channel="whatsapp",
                        external_id=message.id,
                        sender=message.from_,
                        sender_name=names.get(message.from_),
                        recipient=value.metadata.display_phone_number,
                        text=text,
                        original=text,
                        received_at=_from_seconds(message.timestamp),
                        attachments=attachments,
                        threading=Threading(
                            reply_to_external_id=message.context.id if message.context else None
                        ),
                        metadata={
                            "type": message.type,
                            "phone_number_id": value.metadata.phone_number_id,
                        },
                    )
                )
            for status in value.statuses:
                mapped = _WA_STATUS.get(status.status)
                if mapped is None:
                    raise ChannelPayloadError(f"unknown WhatsApp status {status.status!r}")
                error = status.errors[0] if status.errors else None
                events.append(
                    DeliveryStatusUpdate(
                        channel="whatsapp",
                        external_id=status.id,
                        status=mapped,
                        occurred_at=_from_seconds(status.timestamp),
                        recipient=status.recipient_id,
                        error_code=str(error.code) if error else None,
                        error_message=(
                            (error.error_data.details if error.error_data else None)
                            or error.message
                            or error.title
                            if error
                            else None
                        ),
                    )
                )
    return events


# -- sending ---------------------------------------------------------------


def _graph_error(response: httpx.Response, body: Any) -> TransientSendError | PermanentSendError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    text = (
        f"Graph answered {response.status_code}: {error.get('message') or response.reason_phrase}"
    )
    code_text = str(code) if code is not None else None
    if (
        response.status_code >= 500
        or response.status_code == 429
        or code in _TRANSIENT_GRAPH_CODES
        or error.get("is_transient") is True
    ):
        return TransientSendError(
            text,
            code=code_text,
            status=response.status_code,
            retry_after=retry_after_header(response),
        )
    return PermanentSendError(text, code=code_text, status=response.status_code)


class _GraphSender:
    channel: Channel
    max_chars: int

    def __init__(
        self,
        *,
        access_token: str,
        api_base: str,
        client: httpx.AsyncClient | None,
        timeout: float,
        egress: Policy | None,
    ) -> None:
        self._token = access_token
        self._base = api_base.rstrip("/")
        self._poster = JsonPoster(
            client=client,
            timeout=timeout,
            api_base=self._base,
            egress=egress,
            secrets=(access_token,),
        )

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        response, body = await self._poster.post(
            f"{self._base}/{path}", payload, {"Authorization": f"Bearer {self._token}"}
        )
        if response.status_code != 200:
            raise _graph_error(response, body)
        if not isinstance(body, dict):
            raise TransientSendError("Graph answered 200 without a JSON object")
        return body

    async def aclose(self) -> None:
        await self._poster.aclose()


class MessengerSender(_GraphSender):
    """Sends Messenger replies: ``POST {api_base}/me/messages`` with the page access token.

    ``messaging_type: RESPONSE`` is right for replies inside Meta's 24-hour
    window; outside it Graph refuses (a permanent error), by design.
    """

    channel: Channel = "messenger"

    def __init__(
        self,
        *,
        page_access_token: str,
        api_base: str = META_API_BASE,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        egress: Policy | None = None,
    ) -> None:
        super().__init__(
            access_token=page_access_token,
            api_base=api_base,
            client=client,
            timeout=timeout,
            egress=egress,
        )

    async def send(self, msg: OutboundMessage) -> SendResult:
        check_outbound(msg, "messenger", MESSENGER_MAX_CHARS)
        body = await self._post(
            "me/messages",
            {
                "recipient": {"id": msg.recipient},
                "messaging_type": "RESPONSE",
                "message": {"text": msg.text},
            },
        )
        message_id = body.get("message_id")
        if not isinstance(message_id, str):
            raise TransientSendError("Graph answered without a message_id")
        return SendResult("messenger", message_id, "sent")


class WhatsAppSender(_GraphSender):
    """Sends WhatsApp text: ``POST {api_base}/{phone_number_id}/messages``."""

    channel: Channel = "whatsapp"

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        api_base: str = META_API_BASE,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        egress: Policy | None = None,
    ) -> None:
        super().__init__(
            access_token=access_token,
            api_base=api_base,
            client=client,
            timeout=timeout,
            egress=egress,
        )
        self._phone_number_id = phone_number_id

    async def send(self, msg: OutboundMessage) -> SendResult:
        check_outbound(msg, "whatsapp", WHATSAPP_MAX_CHARS)
        body = await self._post(
            f"{self._phone_number_id}/messages",
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": msg.recipient.lstrip("+"),
                "type": "text",
                "text": {"preview_url": False, "body": msg.text},
            },
        )
        messages = body.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str):
            raise TransientSendError("Graph answered without messages[0].id")
        return SendResult("whatsapp", message_id, "sent")
