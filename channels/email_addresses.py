"""Which mail addresses are ours, and the plus-address tokens that thread replies.

Entries are full addresses (``support@acme.example``: also accepts
``support+anything@acme.example``) or whole domains (``@acme.example``). We put
``support+<token>@...`` in the Reply-To of our mail; the token in a reply's
recipient ties it to its conversation even when a mail client drops
In-Reply-To.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def split_address(address: str) -> tuple[str, str] | None:
    """``(local, domain)`` lower-cased, or ``None`` for anything but a bare address."""
    address = address.strip().strip("<>").lower()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain or any(c.isspace() or ord(c) < 32 for c in address):
        return None
    return local, domain


def plus_address(address: str, token: str) -> str:
    """``support@acme.example`` + ``abc`` → ``support+abc@acme.example``."""
    if not TOKEN.fullmatch(token):
        raise ValueError(f"a plus-address token must match {TOKEN.pattern}, got {token!r}")
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


class OurAddresses:
    """The set of addresses and domains we receive mail for."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._addresses: set[tuple[str, str]] = set()
        self._domains: set[str] = set()
        for entry in entries:
            entry = entry.strip().lower()
            if entry.startswith("@") and len(entry) > 1:
                self._domains.add(entry[1:])
            elif (parts := split_address(entry)) is not None:
                self._addresses.add(parts)
            elif entry:
                raise ValueError(f"expected an address or @domain, got {entry!r}")

    def _base(self, address: str) -> tuple[str, str | None, str] | None:
        parts = split_address(address)
        if parts is None:
            return None
        local, domain = parts
        base, _, token = local.partition("+")
        return base, token or None, domain

    def accepts(self, address: str) -> bool:
        """True for one of our addresses, with or without a plus token, or any address
        in one of our domains."""
        parsed = self._base(address)
        if parsed is None:
            return False
        base, token, domain = parsed
        if token is not None and not TOKEN.fullmatch(token):
            return False
        return domain in self._domains or (base, domain) in self._addresses

    def token(self, address: str) -> str | None:
        """The plus token of one of our addresses (case kept), else ``None``."""
        if not self.accepts(address):
            return None
        local = address.strip().strip("<>").rpartition("@")[0]
        _, _, token = local.partition("+")
        return token or None
