"""Web chat surveys end to end, over real sockets, on SQLite and PostgreSQL.

The shared server runs the default ``[surveys]`` config: web chat, CSAT only.
Each test signs in a fresh agent of its own so that the KPI report, filtered
by that agent, sees only this test's conversations.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from tests.conftest import PASSWORD
from tests.support.clients import (
    bearer,
    msg_id,
    new_session,
    recv,
    recv_until,
    send,
    token,
    visitor,
)
from tests.support.server import Server

# Two cores are shared by every server the tests run: be patient.
http_get = functools.partial(httpx.get, timeout=30.0)
http_post = functools.partial(httpx.post, timeout=30.0)


def fresh_agent(server: Server) -> tuple[str, str]:
    """A new agent account (name, token), made by the admin."""
    name = f"agent-{uuid.uuid4().hex[:8]}"
    admin = token(server.http, "ada", PASSWORD)
    made = http_post(
        server.http + "/api/v1/users",
        json={"username": name, "password": PASSWORD, "role": "agent"},
        headers=bearer(admin),
    )
    assert made.status_code == 201, made.text
    return name, token(server.http, name, PASSWORD)


async def closed_chat(
    server: Server, agent_token: str, name: str = "Vera"
) -> tuple[dict[str, Any], ClientConnection]:
    """A visitor writes, the agent takes and closes the chat; the visitor's
    socket is still open and has seen the close."""
    session = new_session(server.http, name=name)
    cid = session["conversation_id"]
    ws, _ = await visitor(server.ws, session["visitor_token"])
    await send(ws, type="message", client_msg_id=msg_id(), text="where is my parcel?")
    await recv_until(ws, "ack")
    headers = bearer(agent_token)
    taken = http_post(f"{server.http}/api/v1/conversations/{cid}/assign", headers=headers)
    assert taken.status_code == 200, taken.text
    closed = http_post(f"{server.http}/api/v1/conversations/{cid}/close", headers=headers)
    assert closed.status_code == 200, closed.text
    await recv_until(ws, "status", status="closed")
    return session, ws


async def answer(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    await send(ws, type="survey_response", **fields)
    frame = await recv(ws)
    while frame["type"] not in ("survey_recorded", "error"):
        frame = await recv(ws)
    return frame


def kpis(server: Server, **params: str) -> dict[str, Any]:
    sam = token(server.http, "sam", PASSWORD)
    reply = http_get(server.http + "/api/v1/reports/kpis", params=params, headers=bearer(sam))
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def test_closing_a_chat_asks_once_and_takes_one_answer_in_range(server: Server):
    name, alice = fresh_agent(server)
    session, ws = await closed_chat(server, alice)
    cid = session["conversation_id"]
    survey = await recv_until(ws, "survey")
    assert survey == {"type": "survey", "conversation_id": cid, "questions": ["csat"]}

    for bad in (
        {"csat": 6},
        {"csat": 0},
        {"csat": "5"},
        {"csat": 4.5},
        {"nps": 11},
        {"csat": 5, "nps": -1},
        {},
        {"csat": 3, "comment": "x" * 2001},
    ):
        refused = await answer(ws, **bad)
        assert refused["type"] == "error" and refused["code"] == "bad_survey", (bad, refused)
        assert refused["message"]

    # Nothing above was stored.
    assert kpis(server, agent=name)["csat"] == {"average": None, "responses": 0}

    recorded = await answer(ws, csat=4, comment="quick and friendly")
    assert recorded["type"] == "survey_recorded"
    twice = await answer(ws, csat=5)
    assert twice["type"] == "error" and twice["code"] == "bad_survey"
    assert "already" in twice["message"]

    report = kpis(server, agent=name)
    assert report["conversations"] == 1
    assert report["csat"] == {"average": 4.0, "responses": 1}
    assert report["surveys"] == {"asked": 1, "answered": 1, "response_rate": 1.0}
    await ws.close()

    # Answered: a reconnect is not asked again.
    again, _ = await visitor(server.ws, session["visitor_token"])
    await recv_until(again, "status", status="closed")
    await send(again, type="ping")
    seen = [await recv(again)]
    while seen[-1]["type"] != "pong":
        seen.append(await recv(again))
    assert "survey" not in [f["type"] for f in seen]
    await again.close()


async def test_an_unanswered_survey_is_asked_again_after_reconnecting(server: Server):
    _, alice = fresh_agent(server)
    session, ws = await closed_chat(server, alice, name="Rita")
    await recv_until(ws, "survey")
    await ws.close()

    again, welcome = await visitor(server.ws, session["visitor_token"])
    assert welcome["conversation_id"] == session["conversation_id"]
    survey = await recv_until(again, "survey")
    assert survey["conversation_id"] == session["conversation_id"]
    assert (await answer(again, csat=2))["type"] == "survey_recorded"
    await again.close()


async def test_a_visitor_cannot_answer_for_another_conversation_or_before_the_close(
    server: Server,
):
    _, alice = fresh_agent(server)
    first, first_ws = await closed_chat(server, alice, name="Olga")
    await recv_until(first_ws, "survey")
    _, second_ws = await closed_chat(server, alice, name="Piet")
    await recv_until(second_ws, "survey")

    # Piet answers for Olga's conversation: refused, and Olga may still answer.
    theirs = await answer(second_ws, conversation_id=first["conversation_id"], csat=1)
    assert theirs["type"] == "error" and theirs["code"] == "bad_survey"
    assert (await answer(first_ws, csat=5))["type"] == "survey_recorded"
    assert (await answer(second_ws, csat=3))["type"] == "survey_recorded"

    # An open chat was not asked anything.
    open_session = new_session(server.http, name="Quinn")
    ws, _ = await visitor(server.ws, open_session["visitor_token"])
    await recv_until(ws, "status")
    early = await answer(ws, csat=5)
    assert early["type"] == "error" and early["code"] == "bad_survey"
    # The socket stays usable after a refusal.
    await send(ws, type="message", client_msg_id=msg_id(), text="still here")
    assert (await recv_until(ws, "ack"))["seq"] == 1
    for socket in (first_ws, second_ws, ws):
        await socket.close()
