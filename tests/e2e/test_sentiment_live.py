"""Live sentiment through the running server: frames, alerts, HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx

from tests.conftest import PASSWORD
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    recv_until,
    send,
    taken_session,
    token,
    visitor,
)
from tests.support.server import Server


async def stored_sentiment(server: Server, cid: str, tok: str) -> dict:
    """The conversation once its scores are written (they follow the live
    frame by up to a fraction of a second)."""
    async with httpx.AsyncClient(headers=bearer(tok)) as client:
        async with asyncio.timeout(5):
            while True:
                shown = (await client.get(server.http + f"/api/v1/conversations/{cid}")).json()
                if shown["sentiment"] is not None:
                    return shown
                await asyncio.sleep(0.05)


ANGRY = "This is the THIRD time I ask!!! Still waiting, terrible service. Cancel my account."


async def test_angry_message_scores_negative_for_agent_and_alerts_supervisor(server: Server):
    alice, sam = token(server.http, "alice", PASSWORD), token(server.http, "sam", PASSWORD)
    session = taken_session(server.http, alice, name="Irate")
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    s, _ = await agent(server.ws, sam)
    v, _ = await visitor(server.ws, session["visitor_token"])

    await send(v, type="message", client_msg_id=msg_id(), text=ANGRY)
    message = await recv_until(a, "message", conversation_id=cid)
    scored = await recv_until(a, "sentiment", conversation_id=cid)
    assert scored["message_id"] == message["message_id"]
    assert scored["label"] == "negative" and -1 <= scored["score"] < -0.5
    assert scored["rolling"] == scored["score"]  # the first customer message

    alert = await recv_until(s, "sentiment_alert", conversation_id=cid)
    assert alert["kind"] == "sentiment_below" and alert["rolling"] < -0.5

    shown = await stored_sentiment(server, cid, alice)
    assert shown["sentiment"]["label"] == "negative"
    assert shown["sentiment"]["rolling"] < -0.5
    history = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/messages", headers=bearer(alice)
    ).json()["messages"]
    assert history[0]["sentiment"]["label"] == "negative"

    # The customer never sees scores about themselves.
    await send(
        a,
        type="message",
        conversation_id=cid,
        client_msg_id=msg_id(),
        text="I am so sorry, I will fix this right now.",
    )
    await recv_until(v, "message", sender={"role": "agent", "name": "alice"})
    await send(v, type="ping")
    await recv_until(v, "pong")
    await asyncio.gather(a.close(), s.close(), v.close())


async def test_agent_tone_is_scored_apart_from_the_customer(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = taken_session(server.http, alice)
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="Thanks so much, that fixed it!")
    first = await recv_until(a, "sentiment", conversation_id=cid)
    await send(
        a,
        type="message",
        conversation_id=cid,
        client_msg_id=msg_id(),
        text="This is awful, terrible, horrible news.",
    )
    tone = await recv_until(a, "sentiment", conversation_id=cid, role="agent")
    assert tone["label"] == "negative"
    assert tone["rolling"] == first["rolling"] > 0  # the customer's score did not move
    await asyncio.gather(a.close(), v.close())


def test_sentiment_cli_scores_stdin_lines():
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "sentiment", "score"],
        input="I love this, thank you!\nstill waiting, this is useless\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import json

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["label"] for line in lines] == ["positive", "negative"]
    bad = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "sentiment", "score", "--backend", "nope"],
        input="x\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "nope" in bad.stderr
