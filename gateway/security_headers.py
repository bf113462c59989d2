"""Security headers on every response, and a strict Content Security Policy
on every page.

The pages load only their own scripts and styles (no inline script, no
inline style attribute: the scripts set styles through the CSSOM), so a
payload that slips into a name, a subject or a message can neither run nor
load anything from elsewhere. The chat widget may be framed by the sites
allowed to embed it; the console by nobody.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def frame_ancestors(origins: list[str]) -> str:
    if "*" in origins:
        return "*"
    return " ".join(["'self'", *origins])


class SecurityHeaders:
    """Pure ASGI middleware (no buffering): adds the headers as the response
    starts. A page that sets its own policy keeps it."""

    def __init__(self, app: ASGIApp, *, embedders: list[str]) -> None:
        self.app = app
        self.widget_policy = f"{POLICY}; frame-ancestors {frame_ancestors(embedders)}"
        self.page_policy = f"{POLICY}; frame-ancestors 'none'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        widget = scope["path"] == "/chat"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = self.widget_policy if widget else self.page_policy
                    headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)
