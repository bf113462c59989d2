"""Stand-in bots on 127.0.0.1: a webhook bot and a Rasa REST channel bot.

They run uvicorn on a thread of their own, so a test that blocks its own
event loop (a synchronous httpx call) never stalls a bot the server is
waiting on. What they answer is scripted by the customer's text:

webhook (``POST /webhook``, checks ``X-Switchboard-Signature`` first: 401 if
it does not verify):
- ``order ...``    -> a text, then a hand-off to ``billing`` with skills,
                      priority, a summary and context
- ``wrong queue``  -> a hand-off to a queue that does not exist
- ``garbage``      -> 200 with a body that is not JSON
- ``boom``         -> 503
- ``bye``          -> a text and ``close: true``
- ``later``        -> ``{}`` (the test answers over the HTTP API)
- anything else    -> ``{"messages": [{"text": "echo: <text>"}]}``

``POST /slow`` sleeps ``slow_s`` before answering (a timeout).

Rasa (``POST /webhooks/rest/webhook``): ``transfer ...`` -> a text and
``custom.handoff``; anything else -> two texts.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots.wire import SIGNATURE_HEADER, verify


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    raw: bytes
    signature: str | None
    verified: bool


class BotStandin:
    def __init__(self, secret: str, slow_s: float = 3.0) -> None:
        self.secret = secret
        self.slow_s = slow_s
        self.received: list[Received] = []
        self._lock = threading.Condition()
        self._app = Starlette(
            routes=[
                Route("/webhook", self._webhook, methods=["POST"]),
                Route("/slow", self._slow, methods=["POST"]),
                Route("/webhooks/rest/webhook", self._rasa, methods=["POST"]),
            ]
        )
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotStandin:
        config = uvicorn.Config(
            self._app, lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        server, sock = self._server, self._sock
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._sock.close()

    def requests_for(self, conversation_id: str) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if conversation_id in (r.body.get("conversation_id"), r.body.get("sender"))
            ]

    def wait_requests(
        self, conversation_id: str, count: int, timeout: float = 10
    ) -> list[Received]:
        """Block until ``count`` requests for the conversation came (or time out)."""
        with self._lock:
            self._lock.wait_for(
                lambda: len(self.requests_for(conversation_id)) >= count, timeout=timeout
            )
            return self.requests_for(conversation_id)

    async def _record(self, request: Request) -> Received:
        raw = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER)
        received = Received(
            request.url.path, json.loads(raw), raw, signature, verify(self.secret, raw, signature)
        )
        with self._lock:
            self.received.append(received)
            self._lock.notify_all()
        return received

    async def _webhook(self, request: Request) -> Response:
        received = await self._record(request)
        if not received.verified:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        text = received.body["message"]["text"].strip().lower()
        if text.startswith("order"):
            return JSONResponse(
                {
                    "messages": [{"text": "Let me get someone from billing."}],
                    "handoff": {
                        "queue": "billing",
                        "skills": ["billing", {"name": "refunds", "level": 2}],
                        "priority": 5,
                        "summary": "Refund for order A-17",
                        "context": {"order": "A-17", "amount": 42.5},
                    },
                }
            )
        if text == "wrong queue":
            return JSONResponse({"messages": [], "handoff": {"queue": "nowhere"}})
        if text == "garbage":
            return Response("this is not json", media_type="application/json")
        if text == "boom":
            return JSONResponse({"error": "down"}, status_code=503)
        if text == "bye":
            return JSONResponse({"messages": [{"text": "Glad I could help. Bye!"}], "close": True})
        if text == "later":
            return JSONResponse({})
        return JSONResponse({"messages": [{"text": f"echo: {received.body['message']['text']}"}]})

    async def _slow(self, request: Request) -> Response:
        await self._record(request)
        await asyncio.sleep(self.slow_s)
        return JSONResponse({"messages": [{"text": "too late"}]})

    async def _rasa(self, request: Request) -> Response:
        received = await self._record(request)
        sender, text = received.body["sender"], str(received.body["message"])
        if text.lower().startswith("transfer"):
            return JSONResponse(
                [
                    {"recipient_id": sender, "text": "Transferring you now."},
                    {
                        "recipient_id": sender,
                        "custom": {
                            "handoff": {
                                "summary": "Wants to change the delivery address",
                                "context": {"intent": "change_address"},
                            }
                        },
                    },
                ]
            )
        return JSONResponse(
            [
                {"recipient_id": sender, "text": f"Rasa heard: {text}"},
                {"recipient_id": sender, "text": "Anything else?"},
            ]
        )
