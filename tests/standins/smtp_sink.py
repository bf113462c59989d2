"""An SMTP relay stand-in (aiosmtpd on the test's own loop) that records every
envelope and can be told to refuse recipients or fail DATA."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Self

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.sink.refuse_recipients:
            return self.sink.refuse_recipients[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.data_failures:
            return self.sink.data_failures.pop(0)
        self.sink.received.append(
            ReceivedMail(
                str(envelope.mail_from), tuple(envelope.rcpt_tos), envelope.original_content or b""
            )
        )
        return "250 2.0.0 Queued"


class SmtpSink:
    def __init__(self) -> None:
        self.received: list[ReceivedMail] = []
        self.refuse_recipients: dict[str, str] = {}
        self.data_failures: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    def fail_data(self, reply: str, times: int = 1) -> None:
        self.data_failures.extend([reply] * times)

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        handler = _SinkHandler(self)
        self._server = await loop.create_server(lambda: SMTP(handler, loop=loop), sock=sock)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
