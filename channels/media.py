"""Fetching media a provider points us at (Twilio ``MediaUrl``), without SSRF.

A webhook body names the URL, so the URL is attacker-controlled until proven
otherwise. ``fetch_media`` only talks to allow-listed hosts, refuses targets
that resolve to private, loopback, link-local or otherwise non-global
addresses (checked on resolution AND on the connected socket, which defeats
DNS rebinding between the two), re-checks every redirect hop, sends
credentials only to the first host, and caps size and total time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from channels.errors import MediaFetchError

MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    url: str
    content_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    """``host`` equals an entry, or is a subdomain of a ``*.example.com`` entry."""
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MediaFetchError(f"cannot resolve media host {host!r}: {exc}") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def _check_target(url: str, allowed_hosts: Sequence[str], allow_private: bool) -> None:
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise MediaFetchError(f"media URL scheme must be https, got {parts.scheme!r}")
    host = parts.hostname
    if not host or not host_allowed(host, allowed_hosts):
        raise MediaFetchError(f"media host {host!r} is not in the allowed hosts")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for ip in await _resolve(host, port):
        if not _public(ip):
            raise MediaFetchError(f"media host {host!r} resolves to non-public address {ip}")


def _check_peer(response: httpx.Response, allow_private: bool) -> None:
    if allow_private:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer is None:
        raise MediaFetchError("cannot tell which address the media request connected to")
    ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
    if not _public(ip):
        raise MediaFetchError(f"media request connected to non-public address {ip}")


async def fetch_media(
    url: str,
    *,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 -- one budget for all hops; the caller should not wrap it
    allow_private: bool = False,
    auth: tuple[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> FetchedMedia:
    """Download ``url`` under the rules above.

    Args:
        allowed_hosts: exact host names or ``*.suffix`` patterns.
        max_bytes: the most we read; a bigger body is an error, not a truncation.
        timeout: seconds for the whole fetch, redirects included.
        allow_private: permit non-public targets and plain http (tests only).
        auth: HTTP basic credentials (Twilio media auth), sent to the first host only.

    Raises:
        MediaFetchError: for every refusal and failure.
    """
    owned = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(url, allowed_hosts, max_bytes, allow_private, auth, http, timeout)
    except TimeoutError as exc:
        raise MediaFetchError(f"fetching media took longer than {timeout}s") from exc
    except httpx.HTTPError as exc:
        raise MediaFetchError(f"fetching media failed: {exc}") from exc
    finally:
        if owned:
            await http.aclose()


async def _fetch(
    url: str,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    allow_private: bool,
    auth: tuple[str, str] | None,
    http: httpx.AsyncClient,
    request_timeout: float,
) -> FetchedMedia:
    first_host = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        await _check_target(url, allowed_hosts, allow_private)
        send_auth = auth if urlsplit(url).hostname == first_host else None
        request = http.build_request("GET", url, timeout=request_timeout)
        response = await http.send(request, auth=send_auth or httpx.USE_CLIENT_DEFAULT, stream=True)
        try:
            _check_peer(response, allow_private)
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise MediaFetchError("media redirect without a Location")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                raise MediaFetchError(f"media request answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise MediaFetchError(f"media is {declared} bytes, over the limit of {max_bytes}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise MediaFetchError(f"media is over the limit of {max_bytes} bytes")
            content_type = response.headers.get("content-type", "application/octet-stream")
            return FetchedMedia(url, content_type.split(";")[0].strip(), bytes(body))
        finally:
            await response.aclose()
    raise MediaFetchError(f"more than {MAX_REDIRECTS} redirects fetching media")
