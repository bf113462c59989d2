"""Archive recognition: by the bytes first, then by name or declared type;
office documents (zip packages) are not archives."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from email.message import EmailMessage

import pytest

from channels.archives import archive_kind, declared, sniff
from channels.email_parse import EmailLimits, parse_email
from channels.errors import AttachmentRefused
from tests.standins import mail


def zipped(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def tarred() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("payload.sh")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"echo"))
    return buffer.getvalue()


def stored(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    return info


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (zipped(("a.exe", b"MZ")), "zip"),
        (b"PK\x05\x06" + b"\x00" * 18, "zip"),
        (b"PK\x03\x04 truncated", "zip"),
        (b"Rar!\x1a\x07\x00" + b"\x00" * 20, "rar"),
        (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 20, "rar"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "7z"),
        (tarred(), "tar"),
        (gzip.compress(b"x"), "gzip"),
        (bz2.compress(b"x"), "bzip2"),
        (bz2.compress(b""), "bzip2"),
        (lzma.compress(b"x"), "xz"),
    ],
)
def test_archives_are_recognised_by_their_bytes(content: bytes, kind: str) -> None:
    assert sniff(content) == kind
    assert archive_kind(content, "harmless.pdf", "application/pdf") == kind


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7 a document",
        b"\x89PNG\r\n\x1a\n",
        b"BZh9 is how this text starts",
        b"",
        zipped(("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")),
        zipped(("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<w/>")),
        zipped((stored("mimetype"), b"application/vnd.oasis.opendocument.text"), ("c.xml", b"")),
        zipped((stored("mimetype"), b"application/epub+zip"), ("c.xml", b"")),
    ],
    ids=["pdf", "png", "text like bzip2", "empty", "docx", "xlsx", "odt", "epub"],
)
def test_documents_are_not_archives(content: bytes) -> None:
    assert sniff(content) is None


def test_a_zip_that_only_pretends_to_be_a_document_is_a_zip() -> None:
    # The mimetype entry must come first and uncompressed, as ODF requires.
    fake = zipped(("mimetype", b"application/vnd.oasis.opendocument.text"), ("x.exe", b"MZ"))
    assert sniff(fake) == "zip"
    assert sniff(zipped(("[Content_Types].xml", b""), ("run.exe", b"MZ"))) == "zip"


def test_a_declared_name_or_type_is_enough() -> None:
    assert declared("backup.TAR.GZ", None) == "gzip"
    assert declared("old.tar", None) == "tar"
    assert declared(None, "application/x-7z-compressed; name=x") == "7z"
    assert declared("photo.jpg", "image/jpeg") is None
    assert declared("no-extension", None) is None
    assert archive_kind(None, "logs.zip") == "zip"
    assert archive_kind(b"plain text", "readme.txt", "text/plain") is None


def test_a_mail_carrying_a_refused_kind_is_refused_and_others_pass() -> None:
    raw = mail.with_attachments(count=1, size=100)
    assert parse_email(raw, limits=EmailLimits(refused_attachments=frozenset({"zip"})))
    archive = zipped(("a.exe", b"MZ"))
    message = EmailMessage()
    message["From"] = "jane@customer.example"
    message["To"] = "support@acme.example"
    message["Subject"] = "Invoice"
    message.set_content("Attached.")
    message.add_attachment(archive, maintype="application", subtype="pdf", filename="invoice.pdf")
    msg = message.as_bytes()
    with pytest.raises(AttachmentRefused, match=r"'invoice.pdf' is an archive \(zip\)"):
        parse_email(msg, limits=EmailLimits(refused_attachments=frozenset({"zip", "rar"})))
    assert parse_email(msg, limits=EmailLimits(refused_attachments=frozenset({"rar"})))
    assert parse_email(msg, limits=EmailLimits())  # nothing refused: the channel default
