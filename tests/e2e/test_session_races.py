"""Concurrent web chat session creations (Rocket.Chat #38148: two requests
for one visitor raced past "is there a room?" and opened two rooms).

What names "the same visitor" in ``POST /api/v1/webchat/sessions`` is the
``session_key`` the widget makes once per chat it starts: every request with
that key, however many arrive at once, yields the same conversation. An
email address only finds the customer: it never hands out a visitor token
for a conversation someone else opened, so two chats with one address are
two conversations of one customer, made concurrently without an error.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx

from tests.conftest import PASSWORD
from tests.support.clients import bearer, msg_id, recv_until, send, token, visitor
from tests.support.server import Server

ROUNDS = 20


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/webchat/sessions", json=body)


def conversations_of(server: Server, email: str) -> list[dict[str, Any]]:
    reply = httpx.get(
        server.http + "/api/v1/conversations",
        params={"limit": "1000"},
        headers=bearer(token(server.http, "sam", PASSWORD)),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return [c for c in reply.json()["conversations"] if c["customer"]["email"] == email]


async def test_concurrent_creations_with_one_session_key_yield_one_conversation(
    server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        for _ in range(ROUNDS):
            email = f"racer-{uuid.uuid4().hex[:10]}@example.com"
            body = {"name": "Racer", "email": email, "session_key": secrets.token_urlsafe(24)}
            replies = await asyncio.gather(*(create(client, body) for _ in range(4)))
            assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
            assert sorted(r.status_code for r in replies) == [200, 200, 200, 201]
            ids = {r.json()["conversation_id"] for r in replies}
            assert len(ids) == 1, ids
            assert [c["id"] for c in conversations_of(server, email)] == list(ids)


async def test_a_repeat_gets_the_same_chat_with_its_messages(server: Server) -> None:
    body = {"name": "Repeat", "session_key": secrets.token_urlsafe(24)}
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        first = (await create(client, body)).json()
        ws, _ = await visitor(server.ws, first["visitor_token"])
        await send(ws, type="message", client_msg_id=msg_id(), text="before the reload")
        await recv_until(ws, "ack")
        await ws.close()
        again = await create(client, body)
    assert again.status_code == 200
    assert again.json()["conversation_id"] == first["conversation_id"]
    ws, welcome = await visitor(server.ws, again.json()["visitor_token"])
    await ws.close()
    assert welcome["conversation_id"] == first["conversation_id"] and welcome["last_seq"] == 1


async def test_concurrent_creations_without_a_key_are_separate_chats_of_one_customer(
    server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        for _ in range(ROUNDS // 2):
            email = f"twotabs-{uuid.uuid4().hex[:10]}@example.com"
            body = {"name": "Two Tabs", "email": email}
            replies = await asyncio.gather(*(create(client, body) for _ in range(3)))
            assert [r.status_code for r in replies] == [201] * 3, [r.text for r in replies]
            found = conversations_of(server, email)
            assert len(found) == 3
            assert len({c["customer"]["id"] for c in found}) == 1


async def test_a_session_key_too_short_to_be_secret_is_refused(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        for key in ("short", "x" * 101, "has spaces in it, sixteen+", 12345678901234567):
            reply = await create(client, {"name": "Guess", "session_key": key})
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"]["code"] == "invalid_field"
