"""Fetching media a provider points us at (Twilio ``MediaUrl``), without SSRF.

A webhook body names the URL, so the URL is attacker-controlled until proven
otherwise. ``fetch_media`` only asks allow-listed hosts (``media_allowed_hosts``)
and sends every hop through the egress guard (``egress``), which refuses
non-public addresses, checks every DNS answer and connects to the checked
one, caps size and time. Redirects are followed by hand, each hop checked
again; credentials go to the first host only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from channels.errors import MediaFetchError
from egress import Policy, async_client

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


def _check_target(url: str, allowed_hosts: Sequence[str], policy: Policy) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not policy.allow):
        raise MediaFetchError(f"media URL scheme must be https, got {parts.scheme!r}")
    host = parts.hostname
    if not host or not host_allowed(host, allowed_hosts):
        raise MediaFetchError(f"media host {host!r} is not in the allowed hosts")


async def fetch_media(
    url: str,
    *,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 -- one budget for all hops; the caller should not wrap it
    policy: Policy | None = None,
    auth: tuple[str, str] | None = None,
) -> FetchedMedia:
    """Download ``url`` under the rules above.

    Args:
        allowed_hosts: exact host names or ``*.suffix`` patterns.
        max_bytes: the most we read; a bigger body is an error, not a truncation.
        timeout: seconds for the whole fetch, redirects included.
        policy: the egress policy (``[security] fetch_allow``); strict by default.
        auth: HTTP basic credentials (Twilio media auth), sent to the first host only.

    Raises:
        MediaFetchError: for every refusal and failure.
    """
    policy = dataclasses.replace(policy or Policy(), max_bytes=max_bytes, timeout=timeout)
    try:
        async with asyncio.timeout(timeout), async_client(policy) as http:
            return await _fetch(url, allowed_hosts, max_bytes, policy, auth, http, timeout)
    except TimeoutError as exc:
        raise MediaFetchError(f"fetching media took longer than {timeout}s") from exc
    except httpx.HTTPError as exc:
        raise MediaFetchError(f"fetching media failed: {exc}") from exc


async def _fetch(
    url: str,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    policy: Policy,
    auth: tuple[str, str] | None,
    http: httpx.AsyncClient,
    request_timeout: float,
) -> FetchedMedia:
    first_host = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        _check_target(url, allowed_hosts, policy)
        send_auth = auth if urlsplit(url).hostname == first_host else None
        request = http.build_request("GET", url, timeout=request_timeout)
        response = await http.send(request, auth=send_auth or httpx.USE_CLIENT_DEFAULT, stream=True)
        try:
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
