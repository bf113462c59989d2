"""A Meta Graph-shaped endpoint: Messenger ``/v21.0/me/messages`` and WhatsApp
``/v21.0/{phone_number_id}/messages``, with Graph's error bodies."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.http import Failure, FailureQueue, HttpStandin


@dataclass(frozen=True)
class ReceivedCall:
    path: str
    authorization: str | None
    body: dict[str, Any]


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> Failure:
    return Failure(
        status,
        {
            "error": {
                "message": message,
                "type": kind,
                "code": code,
                "fbtrace_id": "A" + secrets.token_hex(8),
            }
        },
    )


class GraphStandin(HttpStandin):
    def __init__(self, *, page_token: str, whatsapp_token: str, phone_number_id: str) -> None:
        self.page_token = page_token
        self.whatsapp_token = whatsapp_token
        self.phone_number_id = phone_number_id
        self.received: list[ReceivedCall] = []
        self.failures = FailureQueue()
        super().__init__(
            Starlette(
                routes=[
                    Route("/v21.0/me/messages", self._messenger, methods=["POST"]),
                    Route("/v21.0/{phone_id}/messages", self._whatsapp, methods=["POST"]),
                ]
            )
        )

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v21.0"

    async def _record(self, request: Request) -> ReceivedCall:
        call = ReceivedCall(
            request.url.path, request.headers.get("authorization"), json.loads(await request.body())
        )
        self.received.append(call)
        return call

    def _refusal(self, call: ReceivedCall, token: str) -> Response | None:
        if call.authorization != f"Bearer {token}":
            error = graph_error(401, 190, "Invalid OAuth access token.")
            return JSONResponse(error.body, error.status)
        failure = self.failures.pop()
        if failure is None:
            return None
        if isinstance(failure.body, str):
            return Response(failure.body, failure.status, headers=failure.headers)
        return JSONResponse(failure.body, failure.status, headers=failure.headers)

    async def _messenger(self, request: Request) -> Response:
        call = await self._record(request)
        refusal = self._refusal(call, self.page_token)
        if refusal is not None:
            return refusal
        return JSONResponse(
            {
                "recipient_id": call.body["recipient"]["id"],
                "message_id": "m_" + secrets.token_hex(12),
            }
        )

    async def _whatsapp(self, request: Request) -> Response:
        call = await self._record(request)
        refusal = self._refusal(call, self.whatsapp_token)
        if refusal is not None:
            return refusal
        if request.path_params["phone_id"] != self.phone_number_id:
            error = graph_error(400, 100, "Unsupported post request.", "GraphMethodException")
            return JSONResponse(error.body, error.status)
        to = call.body["to"]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": "wamid." + secrets.token_hex(16)}],
            }
        )
