"""A gateway wired to every channel's stand-in, for the channel end-to-end tests.

``ChannelRig`` runs the Twilio, Graph and Telegram stand-ins and the SMTP
relay sink on the test's loop and one ``switchboard serve`` process
configured to use them. Tests post signed webhooks and real mail to it and
read what the stand-ins received.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from tests.conftest import PASSWORD
from tests.standins.graph_api import GraphStandin
from tests.standins.payloads import ACCOUNT_SID, OUR_NUMBER, PHONE_NUMBER_ID
from tests.standins.signing import meta_request, telegram_request, twilio_request
from tests.standins.smtp_sink import SmtpSink
from tests.standins.telegram_api import TelegramStandin
from tests.standins.twilio_api import TwilioStandin
from tests.support.clients import agent, bearer, recv_until, token
from tests.support.server import Server

AUTH_TOKEN = "12345678901234567890123456789012"
PAGE_TOKEN = "EAAG-page-token"
WHATSAPP_TOKEN = "EAAG-whatsapp-token"
BOT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
TELEGRAM_SECRET = "telegram-secret-token"
SUPPORT = "support@example.com"


@dataclass
class ChannelRig:
    server: Server
    twilio: TwilioStandin
    graph: GraphStandin
    telegram: TelegramStandin
    relay: SmtpSink
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def http(self) -> str:
        return self.server.http

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = token(self.http, user, PASSWORD)
        return self._tokens[user]

    # -- inbound ------------------------------------------------------------

    # Async, because the server may call a stand-in (MMS media) while it answers.

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(self.http + path, content=body, headers=headers)

    async def post_twilio(
        self, form: dict[str, str], path: str = "/webhooks/twilio/sms", *, signed: bool = True
    ) -> httpx.Response:
        body, headers = twilio_request(AUTH_TOKEN, self.http + path, form)
        if not signed:
            headers.pop("X-Twilio-Signature")
        return await self.post(path, body, headers)

    async def post_meta(
        self, payload: dict[str, Any], channel: str = "messenger"
    ) -> httpx.Response:
        body, headers = meta_request(APP_SECRET, payload)
        return await self.post(f"/webhooks/{channel}", body, headers)

    async def post_telegram(self, update: dict[str, Any]) -> httpx.Response:
        body, headers = telegram_request(TELEGRAM_SECRET, update)
        return await self.post("/webhooks/telegram", body, headers)

    # -- looking -------------------------------------------------------------

    def conversations(self, **customer: str) -> list[dict[str, Any]]:
        """Every conversation (as a supervisor sees them) whose customer matches."""
        reply = httpx.get(self.http + "/api/v1/conversations", headers=bearer(self.token("sam")))
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()["conversations"]
        return [c for c in found if all(c["customer"][k] == v for k, v in customer.items())]

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{self.http}/api/v1/conversations/{conversation_id}/messages",
            headers=bearer(self.token("sam")),
        )
        assert reply.status_code == 200, reply.text
        result: list[dict[str, Any]] = reply.json()["messages"]
        return result

    def db(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the server's SQLite file (for what the wire does not show)."""
        path = self.server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            return list(conn.execute(query, params))

    def attributes(self, message_id: str) -> dict[str, Any]:
        (row,) = self.db("SELECT attributes FROM messages WHERE id = ?", message_id)
        result: dict[str, Any] = json.loads(row[0])
        return result

    # -- an agent --------------------------------------------------------------

    async def take(self, conversation_id: str, user: str = "alice") -> ClientConnection:
        """``user`` takes the conversation and follows it over ``/ws/agent``."""
        tok = self.token(user)
        ws, _ = await agent(self.server.ws, tok)
        taken = httpx.post(
            f"{self.http}/api/v1/conversations/{conversation_id}/assign", headers=bearer(tok)
        )
        assert taken.status_code == 200, taken.text
        await recv_until(ws, "assigned", conversation_id=conversation_id)
        return ws


def channel_env(
    twilio: TwilioStandin, graph: GraphStandin, telegram: TelegramStandin, relay: SmtpSink
) -> dict[str, str]:
    return {
        "SWITCHBOARD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SWITCHBOARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SWITCHBOARD_TWILIO_FROM": OUR_NUMBER,
        "SWITCHBOARD_TWILIO_API_BASE": twilio.base_url,
        "SWITCHBOARD_EMAIL_ADDRESSES": SUPPORT,
        "SWITCHBOARD_EMAIL_FROM": SUPPORT,
        "SWITCHBOARD_EMAIL_FROM_NAME": "Acme Support",
        "SWITCHBOARD_SMTP_RELAY": f"127.0.0.1:{relay.port}",
        "SWITCHBOARD_SMTP_RELAY_STARTTLS": "false",
        "SWITCHBOARD_EMAIL_MAX_BYTES": "200000",
        "SWITCHBOARD_META_APP_SECRET": APP_SECRET,
        "SWITCHBOARD_META_VERIFY_TOKEN": VERIFY_TOKEN,
        "SWITCHBOARD_META_API_BASE": graph.api_base,
        "SWITCHBOARD_META_PAGE_ACCESS_TOKEN": PAGE_TOKEN,
        "SWITCHBOARD_WHATSAPP_ACCESS_TOKEN": WHATSAPP_TOKEN,
        "SWITCHBOARD_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "SWITCHBOARD_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "SWITCHBOARD_TELEGRAM_SECRET": TELEGRAM_SECRET,
        "SWITCHBOARD_TELEGRAM_API_BASE": telegram.base_url,
        # The stand-ins are on loopback over plain http.
        "SWITCHBOARD_SECURITY__FETCH_ALLOW": '["127.0.0.1/32"]',
        "SWITCHBOARD_MEDIA_ALLOWED_HOSTS": "127.0.0.1",
    }


USERS = (("alice", "agent"), ("bob", "agent"), ("sam", "supervisor"))


def seeded_users() -> dict[str, str]:
    """Accounts created by the server itself at start (faster than one CLI run each)."""
    seeds = [
        {"username": name, "role": role, "password_env": "SWITCHBOARD_TEST_PASSWORD"}
        for name, role in USERS
    ]
    return {"SWITCHBOARD_USERS": json.dumps(seeds), "SWITCHBOARD_TEST_PASSWORD": PASSWORD}


@asynccontextmanager
async def channel_rig(workdir: Path) -> AsyncIterator[ChannelRig]:
    async with AsyncExitStack() as stack:
        twilio = await stack.enter_async_context(TwilioStandin(ACCOUNT_SID, AUTH_TOKEN))
        graph = await stack.enter_async_context(
            GraphStandin(
                page_token=PAGE_TOKEN,
                whatsapp_token=WHATSAPP_TOKEN,
                phone_number_id=PHONE_NUMBER_ID,
            )
        )
        telegram = await stack.enter_async_context(TelegramStandin(BOT_TOKEN))
        relay = await stack.enter_async_context(SmtpSink())
        server = Server(
            workdir,
            f"sqlite:///{workdir / 'switchboard.sqlite3'}",
            **channel_env(twilio, graph, telegram, relay),
            **seeded_users(),
        )
        # The stand-ins run on this loop: start the server without blocking it.
        await _start(server)
        try:
            yield ChannelRig(server, twilio, graph, telegram, relay)
        finally:
            await _stop(server)


async def _start(server: Server) -> None:
    await asyncio.to_thread(server.start)


async def _stop(server: Server) -> None:
    await asyncio.to_thread(server.stop)
