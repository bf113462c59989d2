"""A new password revokes the tokens issued under the old one, and the sockets
opened with them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORD
from tests.support.clients import agent, bearer, recv, token
from tests.support.server import Server


def _new_agent(server: Server) -> tuple[str, str]:
    admin = token(server.http, "ada", PASSWORD)
    name = f"pw-{uuid.uuid4().hex[:8]}"
    reply = httpx.post(
        server.http + "/api/v1/users",
        headers=bearer(admin),
        json={"username": name, "password": "first password", "role": "supervisor"},
    )
    assert reply.status_code == 201, reply.text
    return name, reply.json()["id"]


async def test_a_new_password_revokes_old_tokens_and_closes_their_sockets(
    server: Server,
) -> None:
    name, user_id = _new_agent(server)
    old = token(server.http, name, "first password")
    ws, _ = await agent(server.ws, old)
    reply = httpx.patch(
        server.http + f"/api/v1/users/{user_id}",
        headers=bearer(token(server.http, "ada", PASSWORD)),
        json={"password": "second password"},
    )
    assert reply.status_code == 200, reply.text

    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    refused = httpx.get(server.http + "/api/v1/me", headers=bearer(old))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"
    assert (
        httpx.post(
            server.http + "/api/v1/auth/token",
            json={"username": name, "password": "first password"},
        ).status_code
        == 401
    )

    fresh = token(server.http, name, "second password")
    assert httpx.get(server.http + "/api/v1/me", headers=bearer(fresh)).status_code == 200
    ws2, welcome = await agent(server.ws, fresh)
    assert welcome["type"] == "welcome"
    await ws2.close()


def test_an_edit_that_keeps_the_password_keeps_the_tokens(server: Server) -> None:
    name, user_id = _new_agent(server)
    tok = token(server.http, name, "first password")
    reply = httpx.patch(
        server.http + f"/api/v1/users/{user_id}",
        headers=bearer(token(server.http, "ada", PASSWORD)),
        json={"display_name": "Renamed"},
    )
    assert reply.status_code == 200
    assert httpx.get(server.http + "/api/v1/me", headers=bearer(tok)).status_code == 200
