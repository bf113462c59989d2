"""Web chat end to end, over real sockets, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import PASSWORD
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    new_session,
    recv,
    recv_until,
    send,
    taken_session,
    token,
    visitor,
)
from tests.support.server import Server


async def test_visitor_and_agent_talk_live_and_resume_gets_exactly_the_missed(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = new_session(
        server.http, name="Vera", email="vera@example.com", prechat={"topic": "billing"}
    )
    cid = session["conversation_id"]

    v, welcome = await visitor(server.ws, session["visitor_token"])
    assert welcome == {"type": "welcome", "conversation_id": cid, "last_seq": 0}
    assert (await recv(v))["status"] == "queued"

    first = msg_id()
    await send(v, type="message", client_msg_id=first, text="my order is late")
    ack = await recv_until(v, "ack")
    assert ack["client_msg_id"] == first and ack["seq"] == 1

    a, _ = await agent(server.ws, alice)
    # Waiting: queued, or already ringing at alice (the router is live).
    listed = httpx.get(
        server.http + "/api/v1/conversations?status=queued,offered", headers=bearer(alice)
    )
    assert cid in [c["id"] for c in listed.json()["conversations"]]
    taken = httpx.post(server.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(alice))
    assert taken.status_code == 200 and taken.json()["status"] == "assigned"
    assert (await recv_until(a, "assigned"))["conversation_id"] == cid
    transcript = await recv_until(a, "message", conversation_id=cid)
    assert (transcript["seq"], transcript["text"]) == (1, "my order is late")
    assert transcript["sender"]["role"] == "customer"
    await recv_until(v, "status", status="assigned")

    # Live, both ways.
    await send(v, type="message", client_msg_id=msg_id(), text="are you there?")
    live = await recv_until(a, "message", conversation_id=cid)
    assert (live["seq"], live["text"]) == (2, "are you there?")
    await send(a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="yes, hi")
    assert (await recv_until(a, "ack"))["seq"] == 3
    reply = await recv_until(v, "message")
    assert (reply["seq"], reply["text"], reply["sender"]["role"]) == (3, "yes, hi", "agent")

    # The visitor drops; the agent writes twice; the visitor resumes after seq 3.
    await v.close()
    for text in ("sorry for the delay", "it ships tomorrow"):
        await send(a, type="message", conversation_id=cid, client_msg_id=msg_id(), text=text)
        await recv_until(a, "ack")
    v2, welcome = await visitor(server.ws, session["visitor_token"], after_seq=3)
    assert welcome["last_seq"] == 5
    replay = [await recv_until(v2, "message"), await recv_until(v2, "message")]
    assert [(m["seq"], m["text"]) for m in replay] == [
        (4, "sorry for the delay"),
        (5, "it ships tomorrow"),
    ]
    # ... and nothing doubled: the next frame is the next live message.
    await send(
        a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="anything else?"
    )
    assert (await recv_until(v2, "message"))["seq"] == 6

    history = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/messages",
        headers=bearer(session["visitor_token"]),
    ).json()["messages"]
    assert [m["seq"] for m in history] == [1, 2, 3, 4, 5, 6]
    await asyncio.gather(v2.close(), a.close())


async def test_same_client_msg_id_gives_same_ack_and_one_message(server: Server):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id="dup-1", text="once")
    first = await recv_until(v, "ack")
    await send(v, type="message", client_msg_id="dup-1", text="once")
    again = await recv_until(v, "ack")
    assert again == first
    messages = httpx.get(
        server.http + f"/api/v1/conversations/{session['conversation_id']}/messages",
        headers=bearer(session["visitor_token"]),
    ).json()["messages"]
    assert len(messages) == 1
    await v.close()


async def test_messages_keep_order_when_sent_back_to_back(server: Server):
    session = new_session(server.http)
    v, _ = await visitor(server.ws, session["visitor_token"])
    for i in range(30):
        await send(v, type="message", client_msg_id=f"burst-{i}", text=f"m{i}")
    acks = [await recv_until(v, "ack") for _ in range(30)]
    assert [a["seq"] for a in acks] == list(range(1, 31))
    assert [a["client_msg_id"] for a in acks] == [f"burst-{i}" for i in range(30)]
    await v.close()


async def test_typing_reaches_the_other_side_not_the_sender(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = taken_session(server.http, alice)
    cid = session["conversation_id"]
    v, _ = await visitor(server.ws, session["visitor_token"])
    a, _ = await agent(server.ws, alice)
    await send(v, type="typing", active=True)
    typing = await recv_until(a, "typing", conversation_id=cid)
    assert typing["sender"]["role"] == "customer" and typing["active"] is True
    await send(v, type="ping")
    assert (await recv_until(v, "pong"))["type"] == "pong"  # no typing echo came first
    await asyncio.gather(v.close(), a.close())


async def test_second_agent_cannot_take_an_assigned_conversation(server: Server):
    alice, bob = token(server.http, "alice", PASSWORD), token(server.http, "bob", PASSWORD)
    cid = new_session(server.http)["conversation_id"]
    url = server.http + f"/api/v1/conversations/{cid}/assign"
    async with httpx.AsyncClient() as client:
        replies = await asyncio.gather(
            client.post(url, headers=bearer(alice)), client.post(url, headers=bearer(bob))
        )
    assert sorted(r.status_code for r in replies) == [200, 409]
    loser = next(r for r in replies if r.status_code == 409)
    assert loser.json()["error"]["code"] == "already_assigned"


async def test_close_ends_the_conversation_for_everyone(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = taken_session(server.http, alice)
    cid = session["conversation_id"]
    v, _ = await visitor(server.ws, session["visitor_token"])
    a, _ = await agent(server.ws, alice)
    await send(a, type="close", conversation_id=cid)
    assert (await recv_until(v, "status", status="closed"))["conversation_id"] == cid
    await send(v, type="message", client_msg_id="late", text="wait!")
    error = await recv_until(v, "error")
    assert (error["code"], error["ref"]) == ("conversation_closed", "late")
    timeline = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/context", headers=bearer(alice)
    ).json()["timeline"]
    # The close also asks for a survey (on by default for web chat).
    lifecycle = [e["type"] for e in timeline if not e["type"].startswith("survey")]
    assert lifecycle == ["created", "assigned", "closed"]
    await asyncio.gather(v.close(), a.close())


async def test_session_context_shows_customer_prechat_and_recent_conversations(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    earlier = new_session(server.http, name="Carl", email="carl@example.com")
    now = new_session(
        server.http,
        name="Carl",
        email="Carl@Example.com",
        prechat={"order": "A-17"},
        context={"page": "/checkout"},
    )
    cid = now["conversation_id"]
    httpx.post(server.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(alice))
    context = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/context", headers=bearer(alice)
    ).json()
    assert context["customer"]["name"] == "Carl"
    assert context["prechat"] == {"order": "A-17"}
    assert context["context"] == {"page": "/checkout"}
    assert [c["id"] for c in context["recent_conversations"]] == [earlier["conversation_id"]]


async def test_agent_can_reply_right_after_taking_a_conversation(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = new_session(server.http)
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    httpx.post(server.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(alice))
    # No waiting for the `assigned` frame: the store says it is ours.
    await send(a, type="message", conversation_id=cid, client_msg_id="quick", text="hello!")
    ack = await recv_until(a, "ack")
    assert (ack["client_msg_id"], ack["seq"]) == ("quick", 1)
    await a.close()


async def test_taking_a_closed_conversation_says_it_is_closed(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    cid = new_session(server.http)["conversation_id"]
    url = server.http + f"/api/v1/conversations/{cid}"
    httpx.post(url + "/assign", headers=bearer(alice))
    httpx.post(url + "/close", headers=bearer(alice))
    sam = token(server.http, "sam", PASSWORD)
    reply = httpx.post(url + "/assign", headers=bearer(sam))
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "closed"


async def test_a_sender_gets_acks_not_echoes_and_its_other_tab_gets_the_messages(server: Server):
    alice = token(server.http, "alice", PASSWORD)
    session = taken_session(server.http, alice)
    cid = session["conversation_id"]
    tab1, _ = await visitor(server.ws, session["visitor_token"])
    tab2, _ = await visitor(server.ws, session["visitor_token"])
    a, _ = await agent(server.ws, alice)

    for i in range(3):
        await send(tab1, type="message", client_msg_id=f"tab-{i}", text=f"t{i}")
    other_tab = [await recv_until(tab2, "message") for _ in range(3)]
    assert [(m["seq"], m["text"]) for m in other_tab] == [(1, "t0"), (2, "t1"), (3, "t2")]
    await send(a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="hello")

    seen = []
    while not seen or seen[-1]["type"] != "message":
        frame = await recv(tab1)
        if frame["type"] in ("ack", "message"):
            seen.append(frame)
    assert [(f["type"], f["seq"]) for f in seen] == [
        ("ack", 1),
        ("ack", 2),
        ("ack", 3),
        ("message", 4),
    ]
    assert (await recv_until(tab2, "message"))["seq"] == 4
    await asyncio.gather(tab1.close(), tab2.close(), a.close())
