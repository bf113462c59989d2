"""Identity keys: one normalised form per address, so one person is one customer.

The store keeps ``(kind, value)`` pairs per customer; these functions decide
the pairs. SMS and WhatsApp both reach a phone, so both map to
``("phone", "+<E.164>")``; email addresses are lower-cased whole; social ids
are kept verbatim under their platform's kind because they mean nothing
elsewhere (a Messenger PSID is even scoped to one page).

Phone handling is deliberately small (no ``phonenumbers`` dependency): it
strips formatting and provider prefixes, applies a default country calling
code to national numbers, and checks the E.164 shape. It does not validate
numbering plans.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from channels.errors import InvalidAddressError


class IdentityKey(NamedTuple):
    """``(kind, value)``; ``str()`` gives ``"kind:value"``."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


_PHONE_FORMATTING = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
_SOCIAL_ID = re.compile(r"-?[0-9A-Za-z_]{1,64}")


def normalise_phone(raw: str, default_country_code: str | None = None) -> str:
    """Return ``raw`` as an E.164 string (``+14155550100``).

    Accepts ``+1 (415) 555-0100``, ``0044 20 7946 0000``, Twilio's
    ``whatsapp:+1...``, WhatsApp's bare ``wa_id`` (``14155550100``: it always
    includes the country code) and, with ``default_country_code`` (``"44"``),
    national numbers with a trunk ``0`` (``020 7946 0000``).

    Raises:
        InvalidAddressError: when no E.164 number can be made of it.
    """
    value = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
    value = _PHONE_FORMATTING.sub("", value)
    if value.startswith("00"):
        value = "+" + value[2:]
    elif not value.startswith("+"):
        if value.startswith("0") and default_country_code:
            value = "+" + default_country_code.lstrip("+") + value[1:]
        else:
            value = "+" + value
    if not _E164.fullmatch(value):
        raise InvalidAddressError(f"expected a phone number in E.164 form, got {raw!r}")
    return value


def normalise_email(raw: str) -> str:
    """Lower-case the whole address (mailbox local parts are case-insensitive in practice).

    Raises:
        InvalidAddressError: for anything that is not a bare ``local@domain``.
    """
    value = raw.strip().strip("<>").lower()
    if not _EMAIL.fullmatch(value) or any(ord(c) < 32 for c in value):
        raise InvalidAddressError(f"expected an email address, got {raw!r}")
    return value


def identity_key(
    channel: str, address: str, default_country_code: str | None = None
) -> IdentityKey:
    """The identity key of ``address`` as seen on ``channel``.

    Raises:
        InvalidAddressError: for an address that does not fit its channel, or an unknown channel.
    """
    if channel in ("sms", "whatsapp"):
        return IdentityKey("phone", normalise_phone(address, default_country_code))
    if channel == "email":
        return IdentityKey("email", normalise_email(address))
    if channel in ("messenger", "telegram"):
        value = address.strip()
        if not _SOCIAL_ID.fullmatch(value):
            raise InvalidAddressError(f"expected a {channel} id, got {address!r}")
        return IdentityKey(channel, value)
    raise InvalidAddressError(f"unknown channel {channel!r}")
