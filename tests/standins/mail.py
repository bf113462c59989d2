"""Raw RFC 5322 mails as real clients and MTAs write them."""

from __future__ import annotations

from email.message import EmailMessage

SUPPORT = "support@acme.example"


def plain(
    body: str = "Hello, my parcel is late.\n",
    *,
    subject: str = "Late parcel",
    sender: str = "Jane Customer <jane@customer.example>",
    to: str = SUPPORT,
    message_id: str = "<c1@customer.example>",
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Mon, 06 Jan 2025 10:00:00 +0000"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def raw(headers: str, body: str | bytes, *, charset_line: str = "") -> bytes:
    """A mail written by hand, for shapes a library would refuse to produce."""
    head = headers.strip("\n").replace("\n", "\r\n") + "\r\n"
    if charset_line:
        head += charset_line + "\r\n"
    payload = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode()
    return head.encode() + b"\r\n" + payload


def latin1() -> bytes:
    return raw(
        "From: =?ISO-8859-1?Q?Ren=E9_Dupr=E9?= <rene@exemple.example>\n"
        f"To: {SUPPORT}\n"
        "Subject: =?ISO-8859-1?Q?Probl=E8me_de_commande?=\n"
        "Message-ID: <latin1@exemple.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Transfer-Encoding: 8bit",
        "Bonjour, ma commande n'est pas arrivée. Merci!\n".encode("latin-1"),
        charset_line='Content-Type: text/plain; charset="ISO-8859-1"',
    )


def with_attachments(count: int = 2, size: int = 1000) -> bytes:
    msg = EmailMessage()
    msg["From"] = "jane@customer.example"
    msg["To"] = SUPPORT
    msg["Subject"] = "Photos"
    msg["Message-ID"] = "<att@customer.example>"
    msg.set_content("Photos attached.")
    msg.add_alternative("<p>Photos <b>attached</b>.</p>", subtype="html")
    for i in range(count):
        msg.add_attachment(
            bytes([i % 256]) * size, maintype="image", subtype="png", filename=f"photo{i}.png"
        )
    return msg.as_bytes()


def html_only(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "jane@customer.example"
    msg["To"] = SUPPORT
    msg["Subject"] = "HTML"
    msg["Message-ID"] = "<html@customer.example>"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def nested_bomb(depth: int) -> bytes:
    """``depth`` multiparts, each inside the last."""
    lines = [
        "From: bomber@evil.example",
        f"To: {SUPPORT}",
        "Subject: bomb",
        "Message-ID: <bomb@evil.example>",
        "MIME-Version: 1.0",
    ]
    body: list[str] = []
    for level in range(depth):
        header = f'Content-Type: multipart/mixed; boundary="b{level}"'
        if level == 0:
            lines.append(header)
            lines.append("")
        else:
            body.append(header)
            body.append("")
        body.append(f"--b{level}")
    body.append("Content-Type: text/plain")
    body.append("")
    body.append("boom")
    for level in reversed(range(depth)):
        body.append(f"--b{level}--")
    return "\r\n".join(lines + body).encode() + b"\r\n"


def wide_bomb(parts: int) -> bytes:
    lines = [
        "From: bomber@evil.example",
        f"To: {SUPPORT}",
        "Subject: wide",
        "Message-ID: <wide@evil.example>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="w"',
        "",
    ]
    for i in range(parts):
        lines += ["--w", "Content-Type: text/plain", "", f"part {i}"]
    lines.append("--w--")
    return "\r\n".join(lines).encode() + b"\r\n"


def bounce(original_message_id: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    """An RFC 3464 DSN as Postfix writes it."""
    return raw(
        "From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)\n"
        f"To: {SUPPORT}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <dsn1@mx.acme.example>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsnb"',
        "--dsnb\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "I'm sorry to have to inform you that your message could not be delivered.\n"
        "\n"
        "--dsnb\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.acme.example\n"
        "Arrival-Date: Mon, 06 Jan 2025 10:00:00 +0000\n"
        "\n"
        "Final-Recipient: rfc822; nobody@customer.example\n"
        "Original-Recipient: rfc822;nobody@customer.example\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mx.customer.example\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.example>: Recipient address\n"
        "    rejected: User unknown in local recipient table\n"
        "\n"
        "--dsnb\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        f"From: {SUPPORT}\n"
        "To: nobody@customer.example\n"
        "Subject: Re: Late parcel\n"
        f"Message-ID: {original_message_id}\n"
        "\n"
        "--dsnb--\n",
    )
