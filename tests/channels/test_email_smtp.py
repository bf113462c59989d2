from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from channels.email import EmailServer, InboundEmailHandler, SmtpSender
from channels.email_addresses import OurAddresses
from channels.email_parse import EmailLimits
from channels.errors import PermanentSendError, TransientSendError
from channels.inbound import DeliveryStatusUpdate, InboundMessage
from channels.outbound import OutboundMessage
from tests.standins import mail
from tests.standins.smtp_sink import SmtpSink

Event = InboundMessage | DeliveryStatusUpdate


class Store:
    """Stands in for the gateway's durable store."""

    def __init__(self) -> None:
        self.stored: list[Event] = []
        self.fail = False
        self.loop: asyncio.AbstractEventLoop | None = None

    async def on_message(self, event: Event) -> None:
        self.loop = asyncio.get_running_loop()
        if self.fail:
            raise RuntimeError("database is down")
        self.stored.append(event)


@pytest.fixture
async def store_and_server() -> AsyncIterator[tuple[Store, EmailServer]]:
    store = Store()
    handler = InboundEmailHandler(
        addresses=OurAddresses(["support@acme.example", "@help.acme.example"]),
        on_message=store.on_message,
        limits=EmailLimits(max_bytes=20_000),
    )
    async with EmailServer(handler, port=0) as server:
        yield store, server


def smtp_send(port: int, rcpt: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail("jane@customer.example", rcpt, raw)


async def test_mail_is_stored_before_250_on_the_callers_loop(
    store_and_server: tuple[Store, EmailServer],
) -> None:
    store, server = store_and_server
    refused = await asyncio.to_thread(
        smtp_send, server.port, ["support@acme.example"], mail.plain()
    )
    assert refused == {}
    [stored] = store.stored
    assert isinstance(stored, InboundMessage) and stored.external_id == "<c1@customer.example>"
    # The store lives on the gateway's loop, not the SMTP thread's.
    assert store.loop is asyncio.get_running_loop()


async def test_250_waits_for_the_callback() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_store(event: Event) -> None:
        started.set()
        await release.wait()

    handler = InboundEmailHandler(
        addresses=OurAddresses(["support@acme.example"]), on_message=slow_store
    )
    async with EmailServer(handler, port=0) as server:
        sending = asyncio.create_task(
            aiosmtplib.send(
                mail.plain(),
                sender="jane@customer.example",
                recipients=["support@acme.example"],
                hostname="127.0.0.1",
                port=server.port,
                timeout=10,
            )
        )
        await asyncio.wait_for(started.wait(), 10)
        assert not sending.done()
        release.set()
        _, reply = await asyncio.wait_for(sending, 10)
        assert reply.startswith("2.0.0")


async def test_unknown_recipient_gets_550(store_and_server: tuple[Store, EmailServer]) -> None:
    store, server = store_and_server
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await asyncio.to_thread(smtp_send, server.port, ["sales@acme.example"], mail.plain())
    code, text = info.value.recipients["sales@acme.example"]
    assert code == 550 and text.startswith(b"5.1.1")
    assert store.stored == []


@pytest.mark.parametrize(
    "rcpt", ["support+c0nv_42@acme.example", "SUPPORT@ACME.EXAMPLE", "anyone@help.acme.example"]
)
async def test_plus_addresses_and_domains_are_accepted(
    store_and_server: tuple[Store, EmailServer], rcpt: str
) -> None:
    store, server = store_and_server
    await asyncio.to_thread(smtp_send, server.port, [rcpt], mail.plain())
    assert len(store.stored) == 1


async def test_plus_token_from_rcpt_reaches_the_message(
    store_and_server: tuple[Store, EmailServer],
) -> None:
    store, server = store_and_server
    await asyncio.to_thread(smtp_send, server.port, ["support+c0nv_42@acme.example"], mail.plain())
    [stored] = store.stored
    assert isinstance(stored, InboundMessage) and stored.threading.token == "c0nv_42"


async def test_oversized_mail_gets_552(store_and_server: tuple[Store, EmailServer]) -> None:
    store, server = store_and_server
    big = mail.plain("x" * 30_000)
    # smtplib announces SIZE, so the server refuses at MAIL FROM ...
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        await asyncio.to_thread(smtp_send, server.port, ["support@acme.example"], big)
    assert info.value.smtp_code == 552
    assert store.stored == []


async def test_handler_refuses_oversized_data_with_552_5_3_4() -> None:
    # Driven on the test's loop with no protocol-level limit, so the handler's own check answers.
    store = Store()
    handler = InboundEmailHandler(
        addresses=OurAddresses(["support@acme.example"]),
        on_message=store.on_message,
        limits=EmailLimits(max_bytes=5_000),
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, loop=loop), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await aiosmtplib.send(
                mail.plain("x" * 6_000),
                sender="jane@customer.example",
                recipients=["support@acme.example"],
                hostname="127.0.0.1",
                port=port,
                timeout=10,
            )
        assert info.value.code == 552 and info.value.message.startswith("5.3.4")
    finally:
        server.close()
        await server.wait_closed()
    assert store.stored == []


async def test_storage_failure_gets_451_and_client_keeps_the_mail(
    store_and_server: tuple[Store, EmailServer],
) -> None:
    store, server = store_and_server
    store.fail = True
    with pytest.raises(smtplib.SMTPDataError) as info:
        await asyncio.to_thread(smtp_send, server.port, ["support@acme.example"], mail.plain())
    assert info.value.smtp_code == 451 and info.value.smtp_error.startswith(b"4.3.0")
    store.fail = False
    await asyncio.to_thread(smtp_send, server.port, ["support@acme.example"], mail.plain())
    assert len(store.stored) == 1


async def test_mime_bomb_is_refused_over_smtp(store_and_server: tuple[Store, EmailServer]) -> None:
    store, server = store_and_server
    with pytest.raises(smtplib.SMTPDataError) as info:
        await asyncio.to_thread(
            smtp_send, server.port, ["support@acme.example"], mail.nested_bomb(15)
        )
    assert info.value.smtp_code == 554
    assert store.stored == []


async def test_bounce_reaches_the_callback_as_status(
    store_and_server: tuple[Store, EmailServer],
) -> None:
    store, server = store_and_server
    raw = mail.bounce("<msg_1@acme.example>")
    await asyncio.to_thread(smtp_send, server.port, ["support@acme.example"], raw)
    [stored] = store.stored
    assert isinstance(stored, DeliveryStatusUpdate) and stored.external_id == "<msg_1@acme.example>"


# -- outbound ------------------------------------------------------------------


def sender_for(relay: SmtpSink) -> SmtpSender:
    return SmtpSender(
        relay_host="127.0.0.1",
        relay_port=relay.port,
        from_address="support@acme.example",
        from_name="Acme Support",
        timeout=10,
    )


def reply(**changes: object) -> OutboundMessage:
    base = OutboundMessage(
        channel="email",
        recipient="jane@customer.example",
        text="Your parcel ships today.",
        message_id="msg_1",
        subject="Re: Late parcel",
        in_reply_to="<c1@customer.example>",
        references=("<c0@customer.example>",),
        reply_token="c0nv_42",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_smtp_sender_threads_and_plus_addresses(smtp_relay: SmtpSink) -> None:
    result = await sender_for(smtp_relay).send(reply())
    assert result.provider_message_id == "<msg_1@acme.example>"
    [received] = smtp_relay.received
    assert received.mail_from == "support@acme.example"
    assert received.rcpt_tos == ("jane@customer.example",)
    message = received.message
    assert message["From"] == "Acme Support <support@acme.example>"
    assert message["Message-ID"] == "<msg_1@acme.example>"
    assert message["In-Reply-To"] == "<c1@customer.example>"
    assert message["References"] == "<c0@customer.example> <c1@customer.example>"
    assert message["Reply-To"] == "support+c0nv_42@acme.example"
    assert message["Subject"] == "Re: Late parcel"
    assert message.get_content().strip() == "Your parcel ships today."


async def test_retried_send_keeps_its_message_id(smtp_relay: SmtpSink) -> None:
    sender = sender_for(smtp_relay)
    await sender.send(reply())
    await sender.send(reply())
    first, second = smtp_relay.received
    assert first.message["Message-ID"] == second.message["Message-ID"]


async def test_reply_subject_with_crlf_cannot_inject_headers(smtp_relay: SmtpSink) -> None:
    await sender_for(smtp_relay).send(reply(subject="Re: hi\r\nBcc: victim@x.example"))
    [received] = smtp_relay.received
    assert received.rcpt_tos == ("jane@customer.example",)
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "Re: hi Bcc: victim@x.example"


async def test_recipient_with_injection_is_refused(smtp_relay: SmtpSink) -> None:
    with pytest.raises(PermanentSendError):
        await sender_for(smtp_relay).send(reply(recipient="jane@x.example\r\nBcc: v@x.example"))
    with pytest.raises(PermanentSendError):
        await sender_for(smtp_relay).send(reply(recipient="a@x.example, b@y.example"))
    assert smtp_relay.received == []


async def test_relay_temporary_failure_is_transient(smtp_relay: SmtpSink) -> None:
    smtp_relay.fail_data("451 4.3.0 Try again later")
    with pytest.raises(TransientSendError) as info:
        await sender_for(smtp_relay).send(reply())
    assert info.value.code == "451"


async def test_relay_refusing_recipient_is_permanent(smtp_relay: SmtpSink) -> None:
    smtp_relay.refuse_recipients["jane@customer.example"] = "550 5.1.1 No such user"
    with pytest.raises(PermanentSendError) as info:
        await sender_for(smtp_relay).send(reply())
    assert info.value.code == "550"


async def test_unreachable_relay_is_transient() -> None:
    sender = SmtpSender(
        relay_host="127.0.0.1", relay_port=9, from_address="support@acme.example", timeout=5
    )
    with pytest.raises(TransientSendError):
        await sender.send(reply())
