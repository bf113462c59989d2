"""Which browser origins may open websockets and call the API."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(headers: Headers, allowed: list[str], public_url: str) -> bool:
    """No ``Origin`` header (a non-browser client) is allowed; a browser must
    come from an allowed origin, or from ours when none are configured."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.lower().rstrip("/")
    if "*" in allowed:
        return True
    permitted = {origin_of(o) for o in allowed} | {origin_of(public_url)}
    host = headers.get("host")
    if host is not None:
        permitted |= {f"http://{host}".lower(), f"https://{host}".lower()}
    return origin in permitted
