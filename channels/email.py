"""Email I/O: the SMTP server handler for inbound mail and the SMTP relay sender.

Inbound: ``InboundEmailHandler`` is an aiosmtpd handler with one hook per
SMTP step. ``RCPT`` accepts only our addresses; ``DATA`` parses the mail,
awaits the gateway's ``on_message`` (which stores it durably) and only then
answers ``250``. A storage failure answers ``451`` so the sending MTA keeps
the mail and retries: nothing is lost between SMTP and the store.
``EmailServer`` runs the handler in an ``aiosmtpd`` ``Controller`` thread and
runs ``on_message`` back on the caller's event loop, where the store lives.

Outbound: ``SmtpSender`` builds an ``EmailMessage`` with threading headers and
a plus-addressed ``Reply-To`` and hands it to the relay with aiosmtplib.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from types import TracebackType
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email_addresses import OurAddresses, plus_address, split_address
from channels.email_parse import EmailLimits, clean_header, parse_email
from channels.errors import (
    AttachmentLimitError,
    AttachmentRefused,
    ChannelPayloadError,
    PayloadTooLarge,
    PermanentSendError,
    TransientSendError,
)
from channels.inbound import Channel, DeliveryStatusUpdate, InboundMessage
from channels.outbound import OutboundMessage, SendResult, check_outbound

__all__ = [
    "EmailServer",
    "InboundEmailHandler",
    "OnEmail",
    "SmtpSender",
]

logger = logging.getLogger(__name__)

OnEmail = Callable[[InboundMessage | DeliveryStatusUpdate], Awaitable[None]]
MAX_RECIPIENTS = 50
MAX_TEXT_CHARS = 1_000_000
_MSG_ID_SAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


class InboundEmailHandler:
    """aiosmtpd handler: accept mail for ``addresses``, store it via ``on_message``.

    Args:
        addresses: our addresses and ``@domain`` entries (see ``OurAddresses``).
        on_message: stores the parsed mail (or bounce report) durably; if it
            raises, the client gets ``451`` and retries later.
        callback_loop: the loop ``on_message`` must run on, when the SMTP
            server runs on another one (``EmailServer`` sets this).
    """

    def __init__(
        self,
        *,
        addresses: OurAddresses,
        on_message: OnEmail,
        limits: EmailLimits | None = None,
        callback_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.addresses = addresses
        self.on_message = on_message
        self.limits = limits or EmailLimits()
        self.callback_loop = callback_loop

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.addresses.accepts(address):
            return "550 5.1.1 Recipient address rejected: no such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.limits.max_bytes:
            return f"552 5.3.4 Message too big: the limit is {self.limits.max_bytes} bytes"
        try:
            parsed = parse_email(
                raw,
                limits=self.limits,
                our_addresses=self.addresses,
                envelope_recipients=list(envelope.rcpt_tos),
                envelope_sender=envelope.mail_from,
            )
        except (PayloadTooLarge, AttachmentLimitError) as exc:
            return f"552 5.3.4 {_reply_text(exc)}"
        except AttachmentRefused as exc:
            # The sender's MTA bounces it, so the customer learns that it did
            # not arrive (as for an attachment over the size limit).
            return f"550 5.7.1 {_reply_text(exc)}"
        except ChannelPayloadError as exc:
            return f"554 5.6.0 Message rejected: {_reply_text(exc)}"
        try:
            await self._deliver(parsed)
        except Exception:
            logger.exception("storing inbound mail %s failed", getattr(parsed, "external_id", "?"))
            return "451 4.3.0 Temporary failure storing the message, try again later"
        return "250 2.0.0 Message accepted"

    async def _deliver(self, parsed: InboundMessage | DeliveryStatusUpdate) -> None:
        target = self.callback_loop
        if target is None or target is asyncio.get_running_loop():
            await self.on_message(parsed)
            return
        future = asyncio.run_coroutine_threadsafe(_call(self.on_message, parsed), target)
        await asyncio.wrap_future(future)


async def _call(on_message: OnEmail, parsed: InboundMessage | DeliveryStatusUpdate) -> None:
    await on_message(parsed)


def _reply_text(exc: Exception) -> str:
    return clean_header(str(exc))[:200]


class _BoundController(Controller):
    """A Controller that serves a socket we bound ourselves.

    Binding first lets port 0 pick a free port (the stock Controller needs the
    port up front to poke its own server awake) and reports the real one.
    """

    def __init__(self, handler: InboundEmailHandler, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class EmailServer:
    """Runs ``InboundEmailHandler`` on ``host:port`` (``port=0``: any free port).

    Use as ``async with EmailServer(handler) as server:``; ``server.port`` is
    the bound port. ``on_message`` runs on the loop that started the server.
    """

    def __init__(
        self,
        handler: InboundEmailHandler,
        host: str = "127.0.0.1",
        port: int = 2525,
        sock: socket.socket | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._sock = sock
        """Already bound (shared by the workers of ``serve --workers``)."""
        self._controller: _BoundController | None = None

    async def start(self) -> None:
        if self.handler.callback_loop is None:
            self.handler.callback_loop = asyncio.get_running_loop()
        sock = self._sock or socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        controller = _BoundController(
            self.handler,
            sock,
            # Let the protocol cut off oversized DATA early; the handler checks too.
            data_size_limit=self.handler.limits.max_bytes,
            ident="Switchboard ESMTP",
        )
        try:
            await asyncio.to_thread(controller.start)
        except BaseException:
            sock.close()
            raise
        self._controller = controller

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    async def __aenter__(self) -> EmailServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class SmtpSender:
    """Sends replies through an SMTP relay.

    The Message-ID is derived from our message id (``<id@domain>``) rather
    than made fresh by ``make_msgid``: a retried send then carries the same
    Message-ID, so the recipient can dedupe it and a bounce names a message
    we can find.

    Args:
        from_address: ``SWITCHBOARD_EMAIL_FROM``; also the base of the
            plus-addressed Reply-To unless ``reply_to`` is given.
        domain: right-hand side of our Message-IDs; defaults to the From domain.
    """

    channel: Channel = "email"

    def __init__(
        self,
        *,
        relay_host: str,
        relay_port: int,
        from_address: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        domain: str | None = None,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        parts = split_address(from_address)
        if parts is None:
            raise ValueError(f"expected a From address, got {from_address!r}")
        self.relay_host = relay_host
        self.relay_port = relay_port
        self.from_address = from_address
        self.from_name = from_name
        self.reply_to = reply_to or from_address
        self.domain = domain or parts[1]
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._timeout = timeout

    def message_id_for(self, message_id: str) -> str:
        return f"<{_MSG_ID_SAFE.sub('-', message_id)}@{self.domain}>"

    def build(self, msg: OutboundMessage) -> EmailMessage:
        """The MIME message for ``msg``.

        Raises:
            PermanentSendError: the recipient is not a single clean address.
        """
        if split_address(msg.recipient) is None or "," in msg.recipient:
            raise PermanentSendError(f"expected one recipient address, got {msg.recipient!r}")
        email = EmailMessage()
        email["From"] = formataddr((clean_header(self.from_name or ""), self.from_address))
        email["To"] = msg.recipient.strip()
        if msg.subject:
            email["Subject"] = clean_header(msg.subject)
        email["Date"] = formatdate(datetime.now(UTC).timestamp(), usegmt=True)
        email["Message-ID"] = self.message_id_for(msg.message_id)
        references = [ref for ref in msg.references if re.fullmatch(r"<[^<>\s]+>", ref)]
        if msg.in_reply_to and re.fullmatch(r"<[^<>\s]+>", msg.in_reply_to):
            email["In-Reply-To"] = msg.in_reply_to
            if msg.in_reply_to not in references:
                references.append(msg.in_reply_to)
        if references:
            email["References"] = " ".join(references)
        if msg.reply_token:
            email["Reply-To"] = plus_address(self.reply_to, msg.reply_token)
        email.set_content(msg.text)
        return email

    async def send(self, msg: OutboundMessage) -> SendResult:
        check_outbound(msg, "email", MAX_TEXT_CHARS)
        email = self.build(msg)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.relay_host,
                port=self.relay_port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise _by_code(first.code, f"relay refused {first.recipient}: {first.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"relay answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientSendError(f"cannot reach the SMTP relay: {exc!r}") from exc
        return SendResult("email", str(email["Message-ID"]), "sent")

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own relay connection."""


def _by_code(code: int, text: str) -> TransientSendError | PermanentSendError:
    if 400 <= code < 500:
        return TransientSendError(text, code=str(code), status=code)
    return PermanentSendError(text, code=str(code), status=code)
