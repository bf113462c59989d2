"""A Twilio-shaped REST endpoint: ``POST /2010-04-01/Accounts/{sid}/Messages.json``.

Answers as Twilio does (201 with the Message resource JSON; errors as
``{"code", "message", "more_info", "status"}``), checks HTTP basic auth, and
also serves media files (``GET /media/{name}``) for MMS fetch tests.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.standins.http import Failure, FailureQueue, HttpStandin


@dataclass(frozen=True)
class ReceivedMessage:
    account_sid: str
    form: dict[str, str]
    content_type: str


def twilio_error(status: int, code: int, message: str) -> Failure:
    return Failure(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class TwilioStandin(HttpStandin):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.received: list[ReceivedMessage] = []
        self.failures = FailureQueue()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}
        self.media_requests: list[dict[str, str]] = []
        super().__init__(
            Starlette(
                routes=[
                    Route(
                        "/2010-04-01/Accounts/{sid}/Messages.json",
                        self._create_message,
                        methods=["POST"],
                    ),
                    Route("/media/{name}", self._media, methods=["GET"]),
                ]
            )
        )

    def fail(self, status: int, code: int, message: str, times: int = 1) -> None:
        self.failures.add(twilio_error(status, code, message), times)

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def _create_message(self, request: Request) -> Response:
        sid = request.path_params["sid"]
        if not self._authorised(request) or sid != self.account_sid:
            error = twilio_error(401, 20003, "Authenticate")
            return JSONResponse(error.body, status_code=error.status)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.received.append(ReceivedMessage(sid, form, request.headers.get("content-type", "")))
        failure = self.failures.pop()
        if failure is not None:
            return JSONResponse(failure.body, failure.status, headers=failure.headers)
        message_sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        return JSONResponse(
            {
                "account_sid": sid,
                "api_version": "2010-04-01",
                "body": form.get("Body", ""),
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": message_sid,
                "status": "queued",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json"
                },
                "to": form.get("To"),
                "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
            },
            status_code=201,
        )

    async def _media(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.media_requests.append(dict(request.headers))
        if name in self.redirects:
            return RedirectResponse(self.redirects[name], status_code=307)
        if name not in self.media:
            return Response(status_code=404)
        content, content_type = self.media[name]
        return Response(content, media_type=content_type)
