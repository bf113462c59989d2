"""Small helpers over the real clients (httpx, websockets) the tests drive."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

RECV_TIMEOUT = 10.0
_ids = itertools.count(1)


def token(server_http: str, username: str, password: str) -> str:
    reply = httpx.post(
        server_http + "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def new_session(server_http: str, **fields: Any) -> dict[str, Any]:
    reply = httpx.post(server_http + "/api/v1/webchat/sessions", json=fields)
    assert reply.status_code == 201, reply.text
    data: dict[str, Any] = reply.json()
    return data


def taken_session(server_http: str, agent_token: str, **fields: Any) -> dict[str, Any]:
    """A new web chat session, already taken by the agent."""
    session = new_session(server_http, **fields)
    reply = httpx.post(
        server_http + f"/api/v1/conversations/{session['conversation_id']}/assign",
        headers=bearer(agent_token),
    )
    assert reply.status_code == 200, reply.text
    return session


async def recv(ws: ClientConnection, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def recv_until(
    ws: ClientConnection, kind: str, timeout: float = RECV_TIMEOUT, **match: Any
) -> dict[str, Any]:
    """Skip frames until one of type ``kind`` (and matching fields) arrives."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, timeout)
            if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps(frame))


def msg_id() -> str:
    return f"cm-{next(_ids)}"


async def visitor(
    server_ws: str, visitor_token: str, after_seq: int | None = None, **connect: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await websockets.connect(server_ws + "/ws/visitor", **connect)
    hello: dict[str, Any] = {"type": "hello", "token": visitor_token}
    if after_seq is not None:
        hello["after_seq"] = after_seq
    await ws.send(json.dumps(hello))
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def agent(
    server_ws: str, agent_token: str, **connect: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await websockets.connect(server_ws + "/ws/agent", **connect)
    await ws.send(json.dumps({"type": "hello", "token": agent_token}))
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome
