"""Refuses, before any route sees them, request paths and query strings that
carry a NUL character (``%00``).

No id, name or filter of ours contains one, and PostgreSQL cannot store or
even compare text with one (the driver raises), so letting it through turns
a bad id into a 500 instead of a 400. JSON bodies and websocket frames are
checked where they are parsed (``gateway.api.parse_body``, ``gateway.frames``).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

BODY = orjson.dumps(
    {
        "error": {
            "code": "invalid_field",
            "message": "the path or query contains a NUL character (%00)",
        }
    }
)


def has_nul(scope: Scope) -> bool:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string", b"")
    return b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(
        query.replace(b"+", b" ")
    )


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": BODY})
            return
        await self.app(scope, receive, send)
