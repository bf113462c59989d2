"""Which addresses an outgoing request may connect to: the pure half of the guard.

Everything here is decided from an address, a port and the policy; nothing
resolves names or opens sockets (``egress.client`` does, and asks here).

The rules:

- An address must be **public** (globally routable unicast). Loopback,
  private (RFC 1918, unique-local), link-local (169.254.0.0/16 with the cloud
  metadata service, fe80::/10), carrier-grade NAT, multicast, reserved,
  unspecified and documentation ranges are refused, and so are IPv6 forms
  that carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64), judged by
  the IPv4 address inside.
- ``allow`` (the operator's ``[security] fetch_allow``) lifts that for the
  networks it names, e.g. ``127.0.0.1/32`` for a stand-in in tests or
  ``10.0.0.0/8`` for bots inside the cluster.
- A destination the operator wrote into the config as an address (a Rasa
  bot at ``http://127.0.0.1:5005``, a Twilio stand-in) may be reached at
  that address and port by the client made for it, if the address is
  loopback or private. Link-local and the rest still need ``allow``: no
  configured bot lives at the metadata service.
- Plain ``http`` only to an origin the config names with ``http://``, or to
  an address in ``allow``; everything else must be ``https``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MiB = 1024 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def parse_network(text: str) -> Network:
    """``"127.0.0.1/32"``, ``"10.0.0.0/8"``, ``"::1"`` (a bare address is a /32 or /128).

    Raises:
        ValueError: naming what was expected and what came.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"expected an IP network like '127.0.0.1/32' or '10.0.0.0/8', got {text!r}"
        ) from None


def embedded_ipv4(ip: Address) -> Address:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), else ``ip``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def not_public(ip: Address) -> str | None:
    """Why ``ip`` is not a public address (``"loopback"``, ``"link-local"``...), or None."""
    inner = embedded_ipv4(ip)
    checks = (
        ("unspecified", inner.is_unspecified),
        ("loopback", inner.is_loopback),
        ("link-local", inner.is_link_local),
        ("multicast", inner.is_multicast),
        ("carrier-grade NAT", isinstance(inner, ipaddress.IPv4Address) and inner in _CGNAT),
        ("reserved", inner.is_reserved),
        ("private", inner.is_private),
    )
    for name, hit in checks:
        if hit:
            return name
    if not inner.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True, slots=True)
class Policy:
    """What one client may reach. ``Policy()`` is the strict default: public
    addresses over https only, 10 MiB, 30 s."""

    allow: tuple[Network, ...] = ()
    """Networks reachable although not public (``[security] fetch_allow``)."""
    max_bytes: int = 10 * MiB
    """The largest response body read; a bigger one is an error, not a truncation."""
    timeout: float = 30.0
    """Seconds for one request from connect to the last byte."""
    destinations: frozenset[tuple[Address, int]] = field(default_factory=frozenset)
    """Loopback or private (address, port) pairs the config names literally."""
    http_origins: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    """(host, port) origins the config names with ``http://``."""

    def for_destinations(self, urls: Iterable[str]) -> Policy:
        """This policy, plus what naming ``urls`` in the config grants (see the
        module docstring); for the client that calls exactly those URLs."""
        destinations = set(self.destinations)
        http_origins = set(self.http_origins)
        for url in urls:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if parts.scheme == "http":
                http_origins.add((host, port))
            for ip in _literal(host):
                if not_public(ip) in ("loopback", "private"):
                    destinations.add((ip, port))
        return Policy(
            self.allow,
            self.max_bytes,
            self.timeout,
            frozenset(destinations),
            frozenset(http_origins),
        )

    def allowed(self, ip: Address) -> bool:
        """Whether ``ip`` is in ``allow`` (an IPv4-mapped address counts as its IPv4)."""
        candidates = {ip, embedded_ipv4(ip)}
        return any(c in net for c in candidates for net in self.allow if c.version == net.version)

    def refusal(self, ip: Address, port: int, *, plain_http: bool) -> str | None:
        """Why a connection to ``ip``:``port`` is refused, or None to allow it.

        Args:
            plain_http: the request is ``http`` to an origin the config does
                not name, so the address must be in ``allow``.
        """
        if self.allowed(ip):
            return None
        named = (ip, port) in self.destinations or (embedded_ipv4(ip), port) in self.destinations
        why = None if named else not_public(ip)
        if why is not None:
            inner = embedded_ipv4(ip)
            shown = f"{ip} (IPv4 {inner})" if inner != ip else str(ip)
            return f"{shown} is a non-public address ({why}; not in [security] fetch_allow)"
        if plain_http:
            return f"plain http to {ip} (use https, or add it to [security] fetch_allow)"
        return None

    def plain_http_named(self, host: str, port: int) -> bool:
        """Whether the config names ``http://host:port`` itself."""
        return (host.lower().rstrip("."), port) in self.http_origins


def _literal(host: str) -> list[Address]:
    """The addresses a host names without DNS: an IP literal, or ``localhost``."""
    if host == "localhost":
        return [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        return []
