"""Parsing inbound mail (RFC 5322 bytes) into an ``InboundMessage`` or a bounce report.

Everything here treats the message as hostile: size, MIME depth and part
count are bounded before and after parsing (a MIME bomb is refused, not
walked); headers are read raw and decoded defensively, with CR/LF and other
control characters neutralised so nothing downstream can be tricked into
header injection; unknown or broken charsets decode with replacement
characters instead of failing; HTML is sanitised before anyone can render
it. Pure: no I/O, the clock only as a default for ``received_at``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses
from typing import Any

from channels.archives import archive_kind
from channels.email_addresses import OurAddresses
from channels.email_quotes import strip_quoted_history
from channels.errors import (
    AttachmentLimitError,
    AttachmentRefused,
    ChannelPayloadError,
    InvalidAddressError,
    MimeBombError,
    PayloadTooLarge,
)
from channels.html_text import html_to_text, sanitize_html
from channels.identity import normalise_email
from channels.inbound import (
    Attachment,
    DeliveryStatus,
    DeliveryStatusUpdate,
    InboundMessage,
    LoopFlags,
    Threading,
)


@dataclass(frozen=True, slots=True)
class EmailLimits:
    """Bounds on what we accept; defaults suit a support mailbox."""

    max_bytes: int = 10 * 1024 * 1024
    max_parts: int = 100
    max_depth: int = 10
    max_attachments: int = 20
    max_attachment_bytes: int = 8 * 1024 * 1024
    refused_attachments: frozenset[str] = frozenset()
    """Archive kinds (``channels.archives``) that refuse the whole mail."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+[ \t]*")
_FOLD = re.compile(r"\r?\n[ \t]+")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_CONTENT_TYPE_LINE = re.compile(rb"(?im)^content-type\s*:")
_AUTOMATED_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_DSN_ACTIONS: dict[str, DeliveryStatus] = {
    "failed": "failed",
    "delayed": "queued",
    "delivered": "delivered",
    "relayed": "sent",
    "expanded": "sent",
}


def clean_header(value: str) -> str:
    """One line, no control characters: CR/LF can never reach another header."""
    return _CONTROL.sub(" ", value).strip()


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded, tolerating unknown charsets."""
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(_decode_bytes(chunk, charset))
    return "".join(out)


def _decode_bytes(data: bytes, charset: str | None) -> str:
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = None
    return data.decode(charset or "utf-8", errors="replace")


def _raw_headers(msg: Message, name: str, *, decode: bool = True) -> list[str]:
    """All values of header ``name``, unfolded, decoded (unless ``decode`` is false) and
    cleaned.

    Reads ``raw_items`` instead of the policy's parsed header objects, which
    can raise on malformed input; what we need we parse ourselves below.
    """
    wanted = name.lower()
    values = []
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            text = _FOLD.sub(" ", str(value))
            values.append(clean_header(_decode_words(text) if decode else text))
    return values


def _header(msg: Message, name: str) -> str | None:
    values = _raw_headers(msg, name)
    return values[0] if values else None


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs with only well-formed addresses kept.

    Addresses are parsed BEFORE encoded words are decoded: a display name
    like ``=?utf-8?q?Eve=0D=0ABcc=3A_x=40y?=`` must stay one opaque word, not
    turn into address syntax (``Bcc: x@y``) that changes who the sender is.
    """
    pairs = []
    for display, address in getaddresses(_raw_headers(msg, name, decode=False)):
        try:
            pairs.append((clean_header(_decode_words(display)), normalise_email(address)))
        except InvalidAddressError:
            continue
    return pairs


def _message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSG_ID.findall(value or ""))


def _check_structure(msg: Message, limits: EmailLimits) -> None:
    """Depth and part count, walked without recursion so the walk itself is safe."""
    stack: list[tuple[Message, int]] = [(msg, 1)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > limits.max_parts:
            raise MimeBombError(f"mail has more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise MimeBombError(f"mail nests MIME parts deeper than {limits.max_depth} levels")
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))


def _leaves(msg: Message) -> Iterator[Message]:
    """Leaf parts in document order; an attached ``message/*`` counts as one leaf."""
    stack: list[Message] = [msg]
    while stack:
        part = stack.pop()
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            yield part


def decode_text_part(part: Message) -> str:
    """A text part's content as ``str``; unknown charsets become U+FFFD, never an error."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return _decode_bytes(data, part.get_content_charset())


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)


def _safe_filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    name = clean_header(_decode_words(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = name.lstrip(".")[:255]
    return name or None


def _is_body_candidate(part: Message, subtype: str) -> bool:
    return (
        part.get_content_type() == f"text/{subtype}"
        and part.get_content_disposition() != "attachment"
        and part.get_filename() is None
    )


def _attachments(
    msg: Message, body_parts: Sequence[Message], limits: EmailLimits
) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part in _leaves(msg):
        if any(part is body for body in body_parts):
            continue
        content_type = part.get_content_type()
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, Message) else b""
        else:
            decoded = part.get_payload(decode=True)
            data = decoded if isinstance(decoded, bytes) else b""
        filename = _safe_filename(part)
        if not data and filename is None:
            continue
        if len(data) > limits.max_attachment_bytes:
            raise AttachmentLimitError(
                f"attachment {filename or content_type!r} is {len(data)} bytes, "
                f"over the limit of {limits.max_attachment_bytes}"
            )
        kind = archive_kind(data, filename, content_type) if limits.refused_attachments else None
        if kind is not None and kind in limits.refused_attachments:
            raise AttachmentRefused(filename or content_type, kind)
        found.append(
            Attachment(
                content_type=content_type,
                filename=filename,
                size=len(data),
                content=data,
                inline=part.get_content_disposition() == "inline" and "Content-ID" in part,
            )
        )
        if len(found) > limits.max_attachments:
            raise AttachmentLimitError(f"mail has more than {limits.max_attachments} attachments")
    return tuple(found)


def _loop_flags(msg: Message, sender: str | None, envelope_sender: str | None) -> LoopFlags:
    auto_submitted = _header(msg, "Auto-Submitted")
    precedence = (_header(msg, "Precedence") or "").lower()
    local = (sender or "").partition("@")[0]
    return LoopFlags(
        auto_submitted=(
            (auto_submitted is not None and auto_submitted.split(";")[0].strip().lower() != "no")
            or _header(msg, "X-Autoreply") is not None
            or _header(msg, "X-Autorespond") is not None
        ),
        bulk=(
            precedence in ("bulk", "junk", "list")
            or _header(msg, "List-Id") is not None
            or _header(msg, "List-Unsubscribe") is not None
        ),
        bounce=(
            local in _AUTOMATED_SENDERS
            or envelope_sender in ("", "<>")
            or msg.get_content_type() == "multipart/report"
        ),
    )


def _dsn_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    return []


def _parse_bounce(msg: Message, received_at: datetime) -> DeliveryStatusUpdate | None:
    """An RFC 3464 delivery status notification, when it names the message it is about."""
    if msg.get_param("report-type", header="content-type") != "delivery-status":
        return None
    original_id: str | None = None
    recipient_block: Message | None = None
    for part in _leaves(msg):
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            blocks = _dsn_blocks(part)
            recipient_block = next((b for b in blocks[1:] if b.get("Action")), None)
        elif content_type in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original_id = next(iter(_message_ids(_header(inner[0], "Message-ID"))), None)
        elif content_type == "text/rfc822-headers":
            headers = HeaderParser(policy=policy.compat32).parsestr(decode_text_part(part))
            original_id = next(iter(_message_ids(_header(headers, "Message-ID"))), None)
    if original_id is None or recipient_block is None:
        return None
    action = clean_header(str(recipient_block.get("Action", ""))).lower()
    status = _DSN_ACTIONS.get(action)
    if status is None:
        return None
    final_recipient = clean_header(str(recipient_block.get("Final-Recipient", "")))
    diagnostic = recipient_block.get("Diagnostic-Code")
    return DeliveryStatusUpdate(
        channel="email",
        external_id=original_id,
        status=status,
        occurred_at=received_at,
        recipient=final_recipient.partition(";")[2].strip() or None,
        error_code=clean_header(str(recipient_block.get("Status", ""))) or None,
        error_message=clean_header(str(diagnostic)) if diagnostic else None,
        metadata={"dsn_action": action},
    )


def parse_email(
    raw: bytes,
    *,
    limits: EmailLimits | None = None,
    our_addresses: OurAddresses | None = None,
    envelope_recipients: Sequence[str] = (),
    envelope_sender: str | None = None,
    received_at: datetime | None = None,
) -> InboundMessage | DeliveryStatusUpdate:
    """Parse one mail as received over SMTP.

    Args:
        our_addresses: used to find the plus-address threading token.
        envelope_recipients: ``RCPT TO`` addresses (they carry the token even
            when the mail was Bcc'd or forwarded).
        envelope_sender: ``MAIL FROM``; empty means a bounce.

    Returns:
        A ``DeliveryStatusUpdate`` for a bounce that names our original
        Message-ID, otherwise an ``InboundMessage``.

    Raises:
        PayloadTooLarge: over ``limits.max_bytes``.
        MimeBombError: too deep or too many parts.
        AttachmentLimitError: too many or too big attachments.
        AttachmentRefused: an attachment of a kind in ``limits.refused_attachments``.
        ChannelPayloadError: no usable From address, or unparseable.
    """
    limits = limits or EmailLimits()
    received_at = received_at or datetime.now(UTC)
    if len(raw) > limits.max_bytes:
        raise PayloadTooLarge("mail", len(raw), limits.max_bytes)
    # Cheap bound before parsing: each MIME part has at most one Content-Type line.
    if len(_CONTENT_TYPE_LINE.findall(raw)) > limits.max_parts:
        raise MimeBombError(f"mail has more than {limits.max_parts} MIME parts")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError as exc:
        raise MimeBombError("mail nests MIME parts too deeply to parse") from exc
    except Exception as exc:
        raise ChannelPayloadError(f"cannot parse mail: {exc!r}") from exc
    _check_structure(msg, limits)
    try:
        return _interpret(
            msg, raw, limits, our_addresses, envelope_recipients, envelope_sender, received_at
        )
    except ChannelPayloadError:
        raise
    except Exception as exc:
        # The stdlib parser is lenient but its accessors can still trip on
        # hostile input; whatever it is, the mail is refused, not the server.
        raise ChannelPayloadError(f"cannot read mail: {exc!r}") from exc


def _interpret(
    msg: EmailMessage,
    raw: bytes,
    limits: EmailLimits,
    our_addresses: OurAddresses | None,
    envelope_recipients: Sequence[str],
    envelope_sender: str | None,
    received_at: datetime,
) -> InboundMessage | DeliveryStatusUpdate:
    senders = _addresses(msg, "From")
    if not senders:
        raise ChannelPayloadError("mail has no valid From address")
    sender_name, sender = senders[0]

    bounce = _parse_bounce(msg, received_at)
    if bounce is not None:
        return bounce

    plain_part = next((p for p in _leaves(msg) if _is_body_candidate(p, "plain")), None)
    html_part = next((p for p in _leaves(msg) if _is_body_candidate(p, "html")), None)
    plain = _clean_text(decode_text_part(plain_part)) if plain_part is not None else None
    html = sanitize_html(decode_text_part(html_part)) if html_part is not None else None
    full_text = plain if plain is not None else html_to_text(html) if html is not None else ""
    body_parts = [p for p in (plain_part, html_part) if p is not None]

    to = _addresses(msg, "To")
    cc = _addresses(msg, "Cc")
    candidates = [
        *envelope_recipients,
        *(address for _, address in to + cc),
        *(address for _, address in _addresses(msg, "Delivered-To")),
    ]
    token = None
    recipient = None
    if our_addresses is not None:
        ours = [a for a in candidates if our_addresses.accepts(a)]
        recipient = ours[0] if ours else None
        token = next((t for a in ours if (t := our_addresses.token(a)) is not None), None)
    elif candidates:
        recipient = candidates[0]

    message_ids = _message_ids(_header(msg, "Message-ID"))
    # No Message-ID: derive one from the bytes so a redelivery still dedupes.
    external_id = (
        message_ids[0]
        if message_ids
        else (f"<{hashlib.sha256(raw).hexdigest()[:40]}@switchboard.invalid>")
    )
    metadata: dict[str, Any] = {
        "to": [address for _, address in to],
        "cc": [address for _, address in cc],
        "date": _header(msg, "Date"),
        "envelope_sender": envelope_sender,
        "envelope_recipients": list(envelope_recipients),
    }
    return InboundMessage(
        channel="email",
        external_id=external_id,
        sender=sender,
        sender_name=sender_name or None,
        recipient=recipient,
        subject=_header(msg, "Subject"),
        text=strip_quoted_history(full_text),
        original=full_text,
        html=html,
        received_at=received_at,
        attachments=_attachments(msg, body_parts, limits),
        threading=Threading(
            in_reply_to=next(iter(_message_ids(_header(msg, "In-Reply-To"))), None),
            references=_message_ids(" ".join(_raw_headers(msg, "References"))),
            token=token,
        ),
        flags=_loop_flags(msg, sender, envelope_sender),
        metadata=metadata,
    )
