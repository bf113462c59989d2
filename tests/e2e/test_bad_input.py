"""Every bad input gets a clear error, stores nothing partial, and the
connection (or server) keeps serving."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jwt
import pytest
import websockets

from tests.conftest import PASSWORD
from tests.support.clients import bearer, new_session, recv, recv_until, send, token, visitor
from tests.support.server import SECRET, Server


def stored(server: Server, session: dict) -> list[dict]:
    reply = httpx.get(
        server.http + f"/api/v1/conversations/{session['conversation_id']}/messages",
        headers=bearer(session["visitor_token"]),
    )
    return reply.json()["messages"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"type": "shout", "text": "hi"}), "unknown_type"),
        (json.dumps({"text": "no type"}), "unknown_type"),
        (json.dumps({"type": "message", "text": "no id"}), "missing_field"),
        (json.dumps({"type": "message", "client_msg_id": "x1"}), "missing_field"),
        (json.dumps({"type": "message", "client_msg_id": "x2", "text": 42}), "invalid_field"),
        (json.dumps({"type": "message", "client_msg_id": "x3", "text": "   "}), "empty_text"),
        (
            json.dumps({"type": "message", "client_msg_id": "x4", "text": "x" * 4097}),
            "text_too_long",
        ),
    ],
)
async def test_bad_frame_gets_error_frame_and_connection_stays_open(
    server: Server, frame: str, code: str
):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await v.send(frame)
    error = await recv_until(v, "error")
    assert error["code"] == code, error
    assert error["message"]
    await send(v, type="message", client_msg_id="after", text="still here")
    assert (await recv_until(v, "ack"))["seq"] == 1
    assert [m["text"] for m in stored(server, session)] == ["still here"]
    await v.close()


async def test_text_at_the_limit_is_accepted(server: Server):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id="max", text="é" * 4096)
    assert (await recv_until(v, "ack"))["client_msg_id"] == "max"
    await v.close()


async def test_binary_frame_is_refused_with_error(server: Server):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await v.send(b"\x00\x01binary")
    assert (await recv_until(v, "error"))["code"] == "binary_not_supported"
    assert stored(server, session) == []
    await v.close()


async def test_flood_is_rate_limited_then_closed(server: Server):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    for i in range(400):
        await send(v, type="message", client_msg_id=f"f{i}", text="spam")
    codes = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            frame = await recv(v)
            if frame["type"] == "error":
                codes.append(frame["code"])
    assert "rate_limited" in codes
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    kept = stored(server, session)
    assert 0 < len(kept) < 400
    assert [m["seq"] for m in kept] == list(range(1, len(kept) + 1))  # nothing partial


@pytest.mark.parametrize("bad", ["garbage", "", None])
async def test_bad_token_closes_4401(server: Server, bad: str | None):
    async with websockets.connect(server.ws + "/ws/visitor") as v:
        await v.send(json.dumps({"type": "hello", "token": bad}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await recv(v)
        assert closed.value.rcvd.code == 4401


async def test_expired_token_closes_4401(server: Server):
    session = new_session(server.http)
    claims = jwt.decode(session["visitor_token"], SECRET, algorithms=["HS256"])
    claims["exp"] = int(time.time()) - 5
    expired = jwt.encode(claims, SECRET, "HS256")
    for path in ("/ws/visitor", "/ws/agent"):
        async with websockets.connect(server.ws + path) as ws:
            await ws.send(json.dumps({"type": "hello", "token": expired}))
            error = await recv(ws)
            assert error["code"] == "token_expired"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd.code == 4401


async def test_agent_token_on_visitor_socket_and_visitor_token_on_agent_socket(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = new_session(server.http)
    for path, tok in (("/ws/visitor", alice), ("/ws/agent", session["visitor_token"])):
        async with websockets.connect(server.ws + path) as ws:
            await ws.send(json.dumps({"type": "hello", "token": tok}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await recv(ws)
            assert closed.value.rcvd.code == 4401


async def test_first_frame_must_be_hello(server: Server):
    async with websockets.connect(server.ws + "/ws/visitor") as v:
        await send(v, type="message", client_msg_id="early", text="hi")
        assert (await recv(v))["code"] == "hello_expected"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(v)
        assert closed.value.rcvd.code == 4401


async def test_disallowed_origin_closes_4403(server: Server):
    session = new_session(server.http)
    async with websockets.connect(server.ws + "/ws/visitor", origin="https://evil.example") as v:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(v)
        assert closed.value.rcvd.code == 4403
    # Our own origin is fine.
    own, _ = await visitor(server.ws, session["visitor_token"], origin=server.http)
    await own.close()


async def test_no_hello_in_time_closes_4401(workdir, backend_url):
    with Server(workdir, backend_url, SWITCHBOARD_LIMITS__HELLO_TIMEOUT_S="0.5") as srv:
        async with websockets.connect(srv.ws + "/ws/visitor") as v:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await recv(v)
            assert closed.value.rcvd.code == 4401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{oops", 400, "invalid_json"),
        (json.dumps({"email": "not-an-email"}).encode(), 400, "invalid_field"),
        (json.dumps({"prechat": "not an object"}).encode(), 400, "invalid_field"),
        (json.dumps({"surprise": 1}).encode(), 400, "invalid_field"),
        (json.dumps({"name": "x" * 300_000}).encode(), 413, "too_large"),
    ],
)
def test_bad_session_request_is_a_json_error(server: Server, body: bytes, status: int, code: str):
    reply = httpx.post(
        server.http + "/api/v1/webchat/sessions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_unknown_route_and_method_are_json_errors(server: Server):
    missing = httpx.get(server.http + "/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.delete(server.http + "/api/v1/webchat/sessions")
    assert wrong.status_code == 405


async def test_server_keeps_serving_after_abrupt_disconnects(server: Server):
    session = new_session(server.http)
    for _ in range(5):
        v, _ = await visitor(server.ws, session["visitor_token"])
        await send(v, type="message", client_msg_id=f"abrupt-{_}", text="bye")
        v.transport.abort()
    await asyncio.sleep(0)  # let the aborts go out
    v, welcome = await visitor(server.ws, session["visitor_token"])
    assert welcome["last_seq"] <= 5
    assert httpx.get(server.http + "/healthz").json() == {"status": "ok"}
    await v.close()
