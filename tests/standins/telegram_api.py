"""A Telegram Bot API-shaped endpoint: ``POST /bot{token}/sendMessage``."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.standins.http import Failure, FailureQueue, HttpStandin


@dataclass(frozen=True)
class ReceivedSend:
    token: str
    body: dict[str, Any]


def telegram_error(code: int, description: str, retry_after: int | None = None) -> Failure:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Failure(code, body)


class TelegramStandin(HttpStandin):
    def __init__(self, bot_token: str) -> None:
        self.bot_token = bot_token
        self.received: list[ReceivedSend] = []
        self.failures = FailureQueue()
        self._ids = itertools.count(100)
        super().__init__(
            Starlette(routes=[Route("/bot{token}/sendMessage", self._send, methods=["POST"])])
        )

    async def _send(self, request: Request) -> Response:
        token = request.path_params["token"]
        body = json.loads(await request.body())
        self.received.append(ReceivedSend(token, body))
        if token != self.bot_token:
            error = telegram_error(401, "Unauthorized")
            return JSONResponse(error.body, error.status)
        failure = self.failures.pop()
        if failure is not None:
            if isinstance(failure.body, str):
                return Response(failure.body, failure.status)
            return JSONResponse(failure.body, failure.status)
        chat_id = body["chat_id"]
        return JSONResponse(
            {
                "ok": True,
                "result": {
                    "message_id": next(self._ids),
                    "from": {"id": 1, "is_bot": True, "first_name": "Switchboard"},
                    "chat": {"id": int(chat_id), "type": "private"},
                    "date": int(time.time()),
                    "text": body["text"],
                },
            }
        )
