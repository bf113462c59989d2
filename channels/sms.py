"""SMS and MMS over Twilio: webhook verification and parsing, and sending.

Inbound: Twilio posts a form to ``/webhooks/twilio/sms`` (messages) and
``/webhooks/twilio/status`` (delivery reports), signed with
``X-Twilio-Signature`` over the public URL and the form. Outbound goes
through the official ``twilio`` client; its HTTP layer is swapped for one that
rebases every request onto ``api_base`` (so tests can point it at a stand-in)
and sends it through the egress guard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from channels.errors import ChannelPayloadError, PermanentSendError, TransientSendError
from channels.inbound import (
    Attachment,
    Channel,
    DeliveryStatus,
    DeliveryStatusUpdate,
    InboundMessage,
    OptIn,
    OptOut,
)
from channels.media import FetchedMedia, fetch_media
from channels.outbound import OutboundMessage, SendResult, check_outbound
from egress import Policy, sync_client

__all__ = [
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "TWILIO_API_BASE",
    "FetchedMedia",
    "TwilioSmsSender",
    "fetch_media",
    "parse_twilio_sms",
    "parse_twilio_status",
    "verify_twilio_signature",
]

TWILIO_API_BASE = "https://api.twilio.com"
# Twilio handles these itself on long codes (it blocks further sends and
# answers the customer); we still record them so agents see the state.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
MAX_MEDIA = 10  # Twilio's own limit per message
MAX_BODY_CHARS = 1600  # Twilio rejects longer bodies (error 21617)

_STATUS_MAP: dict[str, DeliveryStatus] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "read": "read",
}


def verify_twilio_signature(
    auth_token: str,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    *,
    signature_settings: str | None = None,
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) is Twilio's for this request.

    Args:
        url: the full public URL Twilio called, query string included
            (see ``channels.webhook.webhook_url``).
        form: the decoded POST form.
        signature_settings: the ``X-Twilio-Webhooks-Signature-Settings`` header,
            which names the algorithm when the account signs with a SharedKey.
    """
    if not auth_token or not signature:
        return False
    algorithm = get_signature_algorithm(signature_settings)
    return bool(RequestValidator(auth_token).validate(url, dict(form), signature, algorithm))


def _required(form: Mapping[str, str], key: str) -> str:
    value = form.get(key, "").strip()
    if not value:
        raise ChannelPayloadError(f"Twilio form is missing {key!r}")
    return value


def parse_twilio_sms(
    form: Mapping[str, str], *, received_at: datetime | None = None
) -> InboundMessage | OptOut | OptIn:
    """Turn Twilio's inbound message webhook form into an event.

    A body that is exactly an opt-out or opt-in keyword (any case, surrounding
    blanks ignored) becomes ``OptOut`` / ``OptIn``; anything else is a message
    with its MMS media as attachments (URLs, fetched later with ``fetch_media``).

    Raises:
        ChannelPayloadError: a required field is missing or ``NumMedia`` is nonsense.
    """
    sid = _required(form, "MessageSid")
    sender = _required(form, "From")
    recipient = form.get("To") or None
    body = form.get("Body", "")
    when = received_at or datetime.now(UTC)

    keyword = body.strip().upper()
    if keyword in OPT_OUT_KEYWORDS:
        return OptOut("sms", sid, sender, recipient, keyword, when)
    if keyword in OPT_IN_KEYWORDS:
        return OptIn("sms", sid, sender, recipient, keyword, when)

    num_media_text = form.get("NumMedia", "0") or "0"
    if not num_media_text.isdigit() or int(num_media_text) > MAX_MEDIA:
        raise ChannelPayloadError(f"NumMedia must be 0..{MAX_MEDIA}, got {num_media_text!r}")
    attachments = []
    for i in range(int(num_media_text)):
        url = _required(form, f"MediaUrl{i}")
        content_type = form.get(f"MediaContentType{i}") or "application/octet-stream"
        attachments.append(Attachment(content_type=content_type, url=url))

    metadata: dict[str, Any] = {
        key: form[key]
        for key in ("AccountSid", "MessagingServiceSid", "FromCity", "FromState", "FromCountry")
        if form.get(key)
    }
    return InboundMessage(
        channel="sms",
        external_id=sid,
        sender=sender,
        recipient=recipient,
        text=body,
        original=body,
        received_at=when,
        attachments=tuple(attachments),
        metadata=metadata,
    )


def parse_twilio_status(
    form: Mapping[str, str], *, received_at: datetime | None = None
) -> DeliveryStatusUpdate:
    """Turn Twilio's status callback form into a ``DeliveryStatusUpdate``.

    Raises:
        ChannelPayloadError: missing ``MessageSid``/``MessageStatus`` or an unknown status.
    """
    sid = _required(form, "MessageSid")
    raw_status = _required(form, "MessageStatus").lower()
    status = _STATUS_MAP.get(raw_status)
    if status is None:
        raise ChannelPayloadError(f"unknown Twilio MessageStatus {raw_status!r}")
    return DeliveryStatusUpdate(
        channel="sms",
        external_id=sid,
        status=status,
        occurred_at=received_at or datetime.now(UTC),
        recipient=form.get("To") or None,
        error_code=form.get("ErrorCode") or None,
        error_message=form.get("ErrorMessage") or None,
        metadata={"twilio_status": raw_status},
    )


class RebasedHttpClient(HttpClient):  # type: ignore[misc]  # twilio is untyped
    """An HTTP layer for the twilio library that sends every request to ``api_base``
    through the egress guard (``egress.sync_client``).

    The twilio library builds absolute ``https://api.twilio.com/...`` URLs
    (after applying edge/region); swapping the origin at the HTTP layer keeps
    all of the library's request building, auth and error handling intact.
    """

    def __init__(self, api_base: str, timeout: float, policy: Policy | None = None) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False, timeout)
        base = urlsplit(api_base)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"expected an http(s) base URL, got {api_base!r}")
        self._scheme = base.scheme
        self._netloc = base.netloc
        self._prefix = base.path.rstrip("/")
        policy = (policy or Policy()).for_destinations([api_base])
        self.session = sync_client(policy, timeout=timeout)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        rebased = urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment)
        )
        kind = (headers or {}).get("Content-Type", "")
        body: dict[str, Any] = {}
        if kind in ("application/json", "application/scim+json"):
            body["json"] = data
        elif data:
            body["data"] = {k: v for k, v in data.items() if v is not None}
        query: dict[str, Any] = {k: v for k, v in (params or {}).items() if v is not None}
        answer = self.session.request(
            method.upper(),
            rebased,
            params=query,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            **body,
        )
        return Response(int(answer.status_code), answer.text, answer.headers)

    def close(self) -> None:
        self.session.close()

    def __del__(self) -> None:
        # A sender dropped without ``aclose`` must not leak its pooled socket.
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


class TwilioSmsSender:
    """Sends SMS with the official twilio client (which is synchronous: run in a thread).

    Args:
        status_callback: the public URL of ``/webhooks/twilio/status``, so
            delivery reports come back to us.
    """

    channel: Channel = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str = TWILIO_API_BASE,
        status_callback: str | None = None,
        timeout: float = 15.0,
        egress: Policy | None = None,
    ) -> None:
        self._from = from_number
        self._status_callback = status_callback
        self._http = RebasedHttpClient(api_base, timeout, egress)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def _create(self, msg: OutboundMessage) -> Any:
        return self._client.messages.create(
            to=msg.recipient,
            from_=self._from,
            body=msg.text,
            status_callback=self._status_callback,
        )

    async def send(self, msg: OutboundMessage) -> SendResult:
        check_outbound(msg, "sms", MAX_BODY_CHARS)
        try:
            created = await asyncio.to_thread(self._create, msg)
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code is not None else None
            text = f"Twilio answered {exc.status}: {exc.msg} (code {code})"
            if exc.status >= 500 or exc.status == 429:
                raise TransientSendError(text, code=code, status=exc.status) from exc
            raise PermanentSendError(text, code=code, status=exc.status) from exc
        except (httpx.HTTPError, TwilioException) as exc:
            raise TransientSendError(f"cannot reach Twilio: {exc!r}") from exc
        status = _STATUS_MAP.get(str(created.status or "queued"), "queued")
        return SendResult("sms", str(created.sid), status)

    async def aclose(self) -> None:
        self._http.close()


async def fetch_twilio_media(
    attachment: Attachment,
    *,
    account_sid: str,
    auth_token: str,
    allowed_hosts: tuple[str, ...],
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 -- passed through to fetch_media's own budget
    policy: Policy | None = None,
) -> FetchedMedia:
    """``fetch_media`` for an MMS attachment, with Twilio's HTTP basic media auth."""
    if attachment.url is None:
        raise ChannelPayloadError("attachment has no URL")
    return await fetch_media(
        attachment.url,
        allowed_hosts=allowed_hosts,
        max_bytes=max_bytes,
        timeout=timeout,
        policy=policy,
        auth=(account_sid, auth_token),
    )
