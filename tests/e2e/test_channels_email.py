"""Email end to end: real SMTP into the gateway, agent replies out through the
relay with threading headers, replies and bounces back in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import pytest

from tests.standins import mail
from tests.support.channels import SUPPORT, ChannelRig, channel_rig
from tests.support.clients import msg_id, recv_until, send


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    async with channel_rig(tmp_path_factory.mktemp("email")) as running:
        yield running


async def deliver(rig: ChannelRig, raw: bytes, *, sender: str, to: str = SUPPORT) -> None:
    if not sender:  # a bounce: the null reverse-path, MAIL FROM:<>
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=rig.server.smtp_port) as client:
            await client.mail("")
            await client.rcpt(to)
            await client.data(raw)
        return
    await aiosmtplib.send(
        raw, sender=sender, recipients=[to], hostname="127.0.0.1", port=rig.server.smtp_port
    )


def message(
    body: str,
    *,
    sender: str,
    subject: str,
    message_id: str,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body)
    return msg


async def test_mail_becomes_a_conversation_the_reply_threads_both_ways(rig: ChannelRig):
    customer = "jane@customer.example"
    first_id = make_msgid(domain="customer.example")
    await deliver(
        rig,
        message(
            "Hello, my parcel is late.\n",
            sender=f"Jane Customer <{customer}>",
            subject="Late parcel",
            message_id=first_id,
        ).as_bytes(),
        sender=customer,
    )
    (conversation,) = rig.conversations(email=customer)
    cid = conversation["id"]
    assert (conversation["channel"], conversation["subject"]) == ("email", "Late parcel")
    assert conversation["customer"]["name"] == "Jane Customer"

    # The customer's client answers its own mail: In-Reply-To joins the thread,
    # and the quoted history is kept out of the displayed text.
    follow_id = make_msgid(domain="customer.example")
    await deliver(
        rig,
        message(
            "Any news?\n\nOn Mon, 6 Jan 2025 at 10:00, Jane wrote:\n> Hello, my parcel is late.\n",
            sender=customer,
            subject="Re: Late parcel",
            message_id=follow_id,
            in_reply_to=first_id,
            references=first_id,
        ).as_bytes(),
        sender=customer,
    )
    assert len(rig.conversations(email=customer)) == 1
    texts = rig.messages(cid)
    assert [m["text"].strip() for m in texts] == ["Hello, my parcel is late.", "Any news?"]
    assert "> Hello, my parcel is late." in rig.attributes(texts[1]["message_id"])["original"]

    ws = await rig.take(cid)
    await send(
        ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="It ships today."
    )
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], status="sent")
    assert sent["attempts"] == 1

    (out,) = [m for m in rig.relay.received if customer in m.rcpt_tos]
    reply = out.message
    assert reply["To"] == customer
    assert SUPPORT in reply["From"] and "Acme Support" in reply["From"]
    assert reply["Subject"] == "Re: Late parcel"
    assert reply["In-Reply-To"] == follow_id
    assert reply["References"].split() == [first_id, follow_id]
    assert reply["Message-ID"] == sent["provider_message_id"]
    reply_to = reply["Reply-To"]
    assert reply_to.startswith("support+") and reply_to.endswith("@example.com")
    assert reply.get_content().strip() == "It ships today."

    # A client that drops In-Reply-To still threads by the plus-addressed Reply-To.
    await deliver(
        rig,
        message(
            "Thanks!",
            sender=customer,
            subject="something else entirely",
            message_id=make_msgid(domain="customer.example"),
            to=reply_to,
        ).as_bytes(),
        sender=customer,
        to=reply_to,
    )
    thanks = await recv_until(ws, "message", conversation_id=cid, text="Thanks!")
    assert thanks["channel"] == "email"
    # ... and a reply to OUR Message-ID threads too.
    await deliver(
        rig,
        message(
            "One more thing",
            sender=customer,
            subject="Re: Late parcel",
            message_id=make_msgid(domain="customer.example"),
            in_reply_to=reply["Message-ID"],
        ).as_bytes(),
        sender=customer,
    )
    await recv_until(ws, "message", conversation_id=cid, text="One more thing")
    assert len(rig.conversations(email=customer)) == 1

    # The relay's bounce of our mail marks the delivery failed.
    await deliver(
        rig, mail.bounce(reply["Message-ID"]).replace(b"acme.example", b"example.com"), sender=""
    )
    bounced = await recv_until(ws, "delivery", message_id=ack["message_id"], status="failed")
    assert bounced["error"]["code"] == "5.1.1"
    await ws.close()


async def test_multipart_with_attachments_and_latin1_are_stored(rig: ChannelRig):
    raw = mail.with_attachments(count=2, size=500).replace(
        b"support@acme.example", SUPPORT.encode()
    )
    await deliver(rig, raw, sender="jane@customer.example")
    photos = [
        c for c in rig.conversations(email="jane@customer.example") if c["subject"] == "Photos"
    ]
    (conversation,) = photos
    (stored,) = rig.messages(conversation["id"])
    assert stored["text"].strip() == "Photos attached."
    attributes = rig.attributes(stored["message_id"])
    assert [a["filename"] for a in attributes["attachments"]] == ["photo0.png", "photo1.png"]
    assert all(a["size"] == 500 for a in attributes["attachments"])
    # ... and the agent sees them on the message (without provider details).
    shown = rig.messages(conversation["id"])[-1]["attachments"]
    assert [(a["filename"], a["size"]) for a in shown] == [("photo0.png", 500), ("photo1.png", 500)]
    assert all(set(a) == {"content_type", "filename", "size", "inline"} for a in shown)
    assert "<b>attached</b>" in attributes["html"]

    await deliver(
        rig,
        mail.latin1().replace(b"support@acme.example", SUPPORT.encode()),
        sender="rene@exemple.example",
    )
    (conversation,) = rig.conversations(email="rene@exemple.example")
    assert conversation["subject"] == "Problème de commande"
    assert conversation["customer"]["name"] == "René Dupré"
    (stored,) = rig.messages(conversation["id"])
    assert stored["text"].strip() == "Bonjour, ma commande n'est pas arrivée. Merci!"


async def test_unknown_recipient_oversized_and_mime_bomb_are_refused(rig: ChannelRig):
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(rig, mail.plain(), sender="jane@customer.example", to="sales@example.com")
    assert refused.value.recipients[0].code == 550

    big = mail.plain("x" * 250_000, message_id="<big@customer.example>")
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
        await deliver(rig, big, sender="big@customer.example")
    assert too_big.value.code == 552

    bomb = mail.nested_bomb(60).replace(b"support@acme.example", SUPPORT.encode())
    with pytest.raises(aiosmtplib.SMTPResponseException) as rejected:
        await deliver(rig, bomb, sender="bomber@evil.example")
    assert rejected.value.code == 554
    assert rig.conversations(email="big@customer.example") == []
    assert rig.conversations(email="bomber@evil.example") == []


async def test_header_injection_and_bad_charset_are_neutralised(rig: ChannelRig):
    raw = mail.raw(
        "From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?= <eve@evil.example>\n"
        f"To: {SUPPORT}\n"
        "Subject: =?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Ecom?=\n"
        "Message-ID: <inject@evil.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Transfer-Encoding: 8bit",
        b"caf\xe9 \xff\xfe body\n",
        charset_line='Content-Type: text/plain; charset="x-no-such-charset"',
    )
    await deliver(rig, raw, sender="eve@evil.example")
    (conversation,) = rig.conversations(email="eve@evil.example")
    assert "\n" not in conversation["subject"] and "\r" not in conversation["subject"]
    assert conversation["subject"].startswith("Hello")
    assert "\n" not in (conversation["customer"]["name"] or "")
    (stored,) = rig.messages(conversation["id"])
    assert "body" in stored["text"]
    assert rig.conversations(email="victim@example.com") == []


async def test_automated_mail_opens_nothing(rig: ChannelRig):
    raw = mail.plain(
        "I am out of office.",
        sender="robot@customer.example",
        to=SUPPORT,
        message_id="<ooo@customer.example>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    await deliver(rig, raw, sender="robot@customer.example")  # accepted (250) ...
    assert rig.conversations(email="robot@customer.example") == []  # ... and dropped
