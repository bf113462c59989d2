from __future__ import annotations

import pytest

from channels.email_addresses import OurAddresses
from channels.email_parse import EmailLimits, parse_email
from channels.email_quotes import strip_quoted_history
from channels.errors import (
    AttachmentLimitError,
    ChannelPayloadError,
    MimeBombError,
    PayloadTooLarge,
)
from channels.inbound import DeliveryStatusUpdate, InboundMessage
from tests.standins import mail

OURS = OurAddresses(["support@acme.example"])


def parse(raw: bytes, **kwargs: object) -> InboundMessage:
    msg = parse_email(raw, our_addresses=OURS, **kwargs)  # type: ignore[arg-type]
    assert isinstance(msg, InboundMessage)
    return msg


def test_plain_mail() -> None:
    msg = parse(mail.plain())
    assert (msg.channel, msg.external_id) == ("email", "<c1@customer.example>")
    assert (msg.sender, msg.sender_name) == ("jane@customer.example", "Jane Customer")
    assert msg.subject == "Late parcel"
    assert msg.text == "Hello, my parcel is late."
    assert msg.recipient == "support@acme.example"
    assert not msg.flags.automated
    assert msg.identity == ("email", "jane@customer.example")


def test_redelivered_mail_has_same_external_id_even_without_message_id() -> None:
    assert parse(mail.plain()).external_id == parse(mail.plain()).external_id
    raw = mail.raw("From: a@b.example\nTo: support@acme.example\nSubject: x", "hi\n")
    first, second = parse(raw), parse(raw)
    assert first.external_id == second.external_id
    assert first.external_id.endswith("@switchboard.invalid>")
    other = mail.raw("From: a@b.example\nTo: support@acme.example\nSubject: y", "hi\n")
    assert parse(other).external_id != first.external_id


def test_iso_8859_1_mail_is_decoded() -> None:
    msg = parse(mail.latin1())
    assert msg.sender_name == "René Dupré"
    assert msg.subject == "Problème de commande"
    assert msg.text == "Bonjour, ma commande n'est pas arrivée. Merci!"


def test_invalid_charset_decodes_with_replacement() -> None:
    raw = mail.raw(
        "From: a@b.example\nTo: support@acme.example\nSubject: =?x-no-such-charset?q?Hi=FF?=\n"
        "Content-Transfer-Encoding: 8bit",
        b"caf\xe9 \xff\xfe ok\n",
        charset_line='Content-Type: text/plain; charset="x-no-such-charset"',
    )
    msg = parse(raw)
    assert msg.text.startswith("caf") and msg.text.endswith("ok")
    assert "\ufffd" in msg.text
    assert msg.subject is not None and msg.subject.startswith("Hi")


def test_mislabelled_utf8_does_not_crash() -> None:
    raw = mail.raw(
        "From: a@b.example\nTo: support@acme.example\nSubject: x\nContent-Transfer-Encoding: 8bit",
        b"\xc3\x28 broken utf-8\n",
        charset_line="Content-Type: text/plain; charset=utf-8",
    )
    assert "broken utf-8" in parse(raw).text


def test_multipart_with_attachments() -> None:
    msg = parse(mail.with_attachments(count=2, size=1000))
    assert msg.text == "Photos attached."
    assert msg.html == "<p>Photos <b>attached</b>.</p>\n"
    assert [(a.filename, a.content_type, a.size) for a in msg.attachments] == [
        ("photo0.png", "image/png", 1000),
        ("photo1.png", "image/png", 1000),
    ]
    assert msg.attachments[1].content == b"\x01" * 1000


def test_too_many_or_too_big_attachments_are_rejected() -> None:
    with pytest.raises(AttachmentLimitError, match="more than 3"):
        parse(mail.with_attachments(count=4), limits=EmailLimits(max_attachments=3))
    with pytest.raises(AttachmentLimitError, match=r"photo0\.png"):
        parse(
            mail.with_attachments(count=1, size=2000), limits=EmailLimits(max_attachment_bytes=1999)
        )


def test_attachment_filename_cannot_traverse_paths() -> None:
    raw = mail.raw(
        "From: a@b.example\nTo: support@acme.example\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="../../etc/pass\\r\\nwd"\n\nxx\n--b--\n',
    )
    [attachment] = parse(raw).attachments
    assert attachment.filename is not None
    assert "/" not in attachment.filename and "\n" not in attachment.filename


def test_oversized_mail_is_rejected() -> None:
    with pytest.raises(PayloadTooLarge):
        parse(mail.plain("x" * 5000), limits=EmailLimits(max_bytes=4000))


def test_deeply_nested_mime_bomb_is_rejected() -> None:
    with pytest.raises(MimeBombError, match="deeper"):
        parse(mail.nested_bomb(15))


def test_nesting_too_deep_for_the_parser_is_rejected_not_crashed() -> None:
    # Raise the cheap part-count guard out of the way, so the parser itself meets the depth.
    with pytest.raises(MimeBombError):
        parse(mail.nested_bomb(3000), limits=EmailLimits(max_parts=100_000, max_depth=100_000))


def test_huge_part_count_is_rejected() -> None:
    with pytest.raises(MimeBombError, match="parts"):
        parse(mail.wide_bomb(500))


def test_header_injection_in_subject_is_neutralised() -> None:
    raw = mail.raw(
        "From: a@b.example\nTo: support@acme.example\n"
        "Subject: =?utf-8?q?Hello=0D=0ABcc=3A_victim=40x.example?=",
        "hi\n",
    )
    msg = parse(raw)
    assert msg.subject == "Hello Bcc: victim@x.example"
    assert "\r" not in msg.subject and "\n" not in msg.subject


def test_header_injection_in_display_name_is_neutralised() -> None:
    raw = mail.raw(
        "From: =?utf-8?q?Eve=0D=0ABcc=3A_x=40y.example?= <eve@evil.example>\n"
        "To: support@acme.example\nSubject: x",
        "hi\n",
    )
    msg = parse(raw)
    assert msg.sender == "eve@evil.example"
    assert msg.sender_name is not None and "\n" not in msg.sender_name


def test_mail_without_valid_from_is_rejected() -> None:
    for header in ("From: not an address", "From: <>", "Subject: no from"):
        raw = mail.raw(f"{header}\nTo: support@acme.example", "hi\n")
        with pytest.raises(ChannelPayloadError, match="From"):
            parse_email(raw)


def test_reply_carries_threading_hints() -> None:
    raw = mail.plain(
        "Thanks!\n\nOn Mon, 6 Jan 2025 at 10:00, Acme Support <support@acme.example> wrote:\n"
        "> Your parcel ships today.\n",
        subject="Re: Late parcel",
        to="support+c0nv_42@acme.example",
        message_id="<r2@customer.example>",
        headers={
            "In-Reply-To": "<msg_1@acme.example>",
            "References": "<c1@customer.example> <msg_1@acme.example>",
        },
    )
    msg = parse(raw)
    assert msg.threading.in_reply_to == "<msg_1@acme.example>"
    assert msg.threading.references == ("<c1@customer.example>", "<msg_1@acme.example>")
    assert msg.threading.token == "c0nv_42"
    assert msg.text == "Thanks!"
    assert "Your parcel ships today." in (msg.original or "")


def test_plus_token_from_envelope_recipient() -> None:
    msg = parse(mail.plain(), envelope_recipients=["support+tok1@acme.example"])
    assert msg.threading.token == "tok1"


def test_html_is_sanitised_and_text_derived() -> None:
    msg = parse(
        mail.html_only(
            '<p onclick="steal()">Hi <b>there</b><script>alert(1)</script>'
            '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">link</a></p>'
        )
    )
    assert msg.html is not None
    for bad in ("script", "onerror", "onclick", "javascript:", "alert(1)"):
        assert bad not in msg.html
    assert "<b>there</b>" in msg.html
    assert msg.text == "Hi therelink"


def test_html_only_reply_has_blockquote_history_stripped() -> None:
    msg = parse(mail.html_only("<div>New answer</div><blockquote>old thread</blockquote>"))
    assert msg.text == "New answer"
    assert "old thread" in (msg.original or "")


@pytest.mark.parametrize(
    "reply",
    [
        "Yes please.\n\nOn Tue, Jan 7, 2025 at 9:12 AM Acme <support@acme.example> wrote:\n> old\n",
        "Yes please.\n\n"
        "On Tue, Jan 7, 2025 at 9:12 AM Acme Support <\nsupport@acme.example> wrote:\n> old\n",
        "Yes please.\n\n"
        "-----Original Message-----\nFrom: Acme\nSent: Tuesday\nSubject: old\n\nold\n",
        "Yes please.\n\n"
        "________________________________\nFrom: Acme <support@acme.example>\nSent: Tuesday\nold\n",
        "Yes please.\n\n"
        "From: Acme <support@acme.example>\nSent: Tuesday, January 7, 2025\nTo: Jane\nold\n",
        "Yes please.\n\n"
        "Le mar. 7 janv. 2025 à 09:12, Acme <support@acme.example> a écrit :\n> old\n",
        "Yes please.\n\n"
        "Am Di., 7. Jan. 2025 um 09:12 Uhr schrieb Acme <support@acme.example>:\n> old\n",
        "> old question\nYes please.\n",
    ],
)
def test_quoted_history_is_stripped(reply: str) -> None:
    assert strip_quoted_history(reply) == "Yes please."


def test_all_quoted_reply_falls_back_to_full_text() -> None:
    assert strip_quoted_history("> only a quote") == "> only a quote"


@pytest.mark.parametrize(
    ("headers", "flag"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_submitted"),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y"}, "auto_submitted"),
        ({"X-Autoreply": "yes"}, "auto_submitted"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"Precedence": "list"}, "bulk"),
        ({"List-Id": "<news.shop.example>"}, "bulk"),
    ],
)
def test_loop_flags(headers: dict[str, str], flag: str) -> None:
    flags = parse(mail.plain(headers=headers)).flags
    assert getattr(flags, flag) and flags.automated


def test_auto_submitted_no_is_not_automated() -> None:
    assert not parse(mail.plain(headers={"Auto-Submitted": "no"})).flags.automated


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example", "postmaster@mx.example"])
def test_mail_from_daemons_is_flagged_as_bounce(sender: str) -> None:
    assert parse(mail.plain(sender=sender)).flags.bounce


def test_null_envelope_sender_is_flagged_as_bounce() -> None:
    assert parse(mail.plain(), envelope_sender="<>").flags.bounce


def test_bounce_becomes_delivery_status_for_original_message() -> None:
    update = parse_email(mail.bounce("<msg_1@acme.example>"), our_addresses=OURS)
    assert isinstance(update, DeliveryStatusUpdate)
    assert (update.channel, update.external_id, update.status) == (
        "email",
        "<msg_1@acme.example>",
        "failed",
    )
    assert update.recipient == "nobody@customer.example"
    assert update.error_code == "5.1.1"
    assert update.error_message is not None and "User unknown" in update.error_message


def test_delayed_dsn_is_not_a_failure() -> None:
    update = parse_email(mail.bounce("<msg_1@acme.example>", action="delayed", status="4.4.1"))
    assert isinstance(update, DeliveryStatusUpdate) and update.status == "queued"
