"""Archive attachments are refused wherever attachments come in, recognised
by their bytes and not only by what they are called: a mail carrying one is
refused whole (550 5.7.1, the sender's server bounces it), MMS media that
turns out to be one is recorded as refused and its bytes dropped, and social
media declared as one is recorded as refused. Office documents, which are
zip files inside, still come through."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.standins import payloads as p
from tests.support.channels import SUPPORT, ChannelRig, channel_rig


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    async with channel_rig(tmp_path_factory.mktemp("archives")) as running:
        yield running


def zipped(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


DOCX = zipped(**{"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def mail_with(sender: str, filename: str, content: bytes, maintype: str, subtype: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = f"Sending {filename}"
    msg["Message-ID"] = f"<{filename}.{sender}>"
    msg.set_content("The file you asked for.")
    msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


async def deliver(rig: ChannelRig, raw: bytes, sender: str) -> None:
    await aiosmtplib.send(
        raw, sender=sender, recipients=[SUPPORT], hostname="127.0.0.1", port=rig.server.smtp_port
    )


@pytest.mark.parametrize(
    ("filename", "content", "maintype", "subtype", "kind"),
    [
        ("invoice.pdf", zipped(**{"invoice.exe": b"MZ" * 50}), "application", "pdf", "zip"),
        ("notes.txt", gzip.compress(b"just text"), "text", "plain", "gzip"),
        ("dump.bin", bz2.compress(b"data"), "application", "octet-stream", "bzip2"),
        ("logs.zip", b"not really a zip", "application", "zip", "zip"),
    ],
    ids=["zip named pdf", "gzip named txt", "bzip2", "zip by name only"],
)
async def test_mail_with_an_archive_is_refused_whole(
    rig: ChannelRig, filename: str, content: bytes, maintype: str, subtype: str, kind: str
) -> None:
    sender = f"{kind}-{filename}@customer.example"
    raw = mail_with(sender, filename, content, maintype, subtype)
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await deliver(rig, raw, sender)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.7.1 ")
    assert f"({kind})" in refused.value.message and filename in refused.value.message
    assert rig.conversations(email=sender) == []


async def test_mail_with_an_office_document_is_accepted(rig: ChannelRig) -> None:
    sender = "docx@customer.example"
    subtype = "vnd.openxmlformats-officedocument.wordprocessingml.document"
    await deliver(rig, mail_with(sender, "letter.docx", DOCX, "application", subtype), sender)
    (conversation,) = rig.conversations(email=sender)
    (message,) = rig.messages(conversation["id"])
    (shown,) = message["attachments"]
    assert shown["filename"] == "letter.docx" and "refused" not in shown


async def test_mms_media_that_is_an_archive_is_refused_and_the_text_kept(rig: ChannelRig) -> None:
    rig.twilio.media["holiday"] = (zipped(**{"photo.jpg.exe": b"MZ"}), "image/jpeg")
    rig.twilio.media["photo"] = (b"\xff\xd8\xff\xe0 a jpeg", "image/jpeg")
    base = rig.twilio.base_url
    form = p.twilio_sms(
        "my photos",
        sid="SM" + "7" * 32,
        sender="+14155550177",
        media=((f"{base}/media/holiday", "image/jpeg"), (f"{base}/media/photo", "image/jpeg")),
    )
    assert (await rig.post_twilio(form)).status_code == 200
    (conversation,) = rig.conversations(phone="+14155550177")
    (message,) = rig.messages(conversation["id"])
    assert message["text"] == "my photos"
    refused, kept = rig.attributes(message["message_id"])["attachments"]
    assert refused["fetched"] is False and refused["refused"] == "zip"
    assert "archive" in refused["error"] and "sha256" not in refused
    assert kept["fetched"] is True and "refused" not in kept
    # The agent sees which one was refused.
    assert [a.get("refused") for a in message["attachments"]] == ["zip", None]


async def test_mms_media_declared_an_archive_is_not_even_fetched(rig: ChannelRig) -> None:
    rig.twilio.media["backup"] = (b"Rar!\x1a\x07\x00 rar", "application/x-rar-compressed")
    fetched_before = len(rig.twilio.media_requests)
    url = f"{rig.twilio.base_url}/media/backup"
    form = p.twilio_sms(
        "", sid="SM" + "8" * 32, sender="+14155550178", media=((url, "application/vnd.rar"),)
    )
    assert (await rig.post_twilio(form)).status_code == 200
    (conversation,) = rig.conversations(phone="+14155550178")
    (message,) = rig.messages(conversation["id"])
    (media,) = rig.attributes(message["message_id"])["attachments"]
    assert media["fetched"] is False and media["refused"] == "rar"
    assert len(rig.twilio.media_requests) == fetched_before


async def test_a_telegram_document_declared_an_archive_is_recorded_as_refused(
    rig: ChannelRig,
) -> None:
    update = p.telegram_message("", update_id=20001, message_id=2001, chat_id=2222222)
    update["message"].pop("text")
    update["message"]["caption"] = "the logs"
    update["message"]["document"] = {
        "file_name": "logs.tar.gz",
        "mime_type": "application/gzip",
        "file_id": "BQACAgIAAxkBAAIB",
        "file_unique_id": "AgADBQAC",
        "file_size": 2048,
    }
    assert (await rig.post_telegram(update)).status_code == 200
    (conversation,) = [c for c in rig.conversations() if c["channel"] == "telegram"]
    (message,) = rig.messages(conversation["id"])
    assert message["text"] == "the logs"
    (media,) = rig.attributes(message["message_id"])["attachments"]
    assert media["refused"] == "gzip" and media["fetched"] is False
