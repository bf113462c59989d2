"""The router, live: offers over real agent websockets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.clients import (
    agent,
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

PASSWORD = "routing test password"
CONFIG = """
[routing.offers]
timeout = 2
decline_memory = 60

[routing.presence]
grace = 1
"""
_names = itertools.count(1)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Server]:
    """A server per test: work left waiting by one test would be offered in the next."""
    server = Server(
        tmp_path,
        f"sqlite:///{tmp_path}/db.sqlite3",
        config=CONFIG,
        SWITCHBOARD_USERS=(
            '[{"username": "boss", "role": "supervisor", "password_env": "RT_PASSWORD"},'
            ' {"username": "root", "role": "admin", "password_env": "RT_PASSWORD"}]'
        ),
        RT_PASSWORD=PASSWORD,
    )
    with server:
        yield server


def new_agent(srv: Server, **fields: object) -> str:
    """A fresh agent account (tests must not share agents: offers follow them)."""
    name = f"agent{next(_names)}"
    admin = token(srv.http, "root", PASSWORD)
    body = {"username": name, "password": PASSWORD, **fields}
    created = httpx.post(srv.http + "/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return token(srv.http, name, PASSWORD)


async def first_offer(*agents: ClientConnection) -> tuple[ClientConnection, dict]:
    """Which of several agents got an offer (recv is cancellation-safe)."""
    tasks = {asyncio.ensure_future(recv_until(ws, "offer", timeout=5)): ws for ws in agents}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    winner = done.pop()
    return tasks[winner], winner.result()


async def accept_next_offer(ws: ClientConnection) -> dict:
    """Wait for an offer, accept it and wait for the assignment; the offer."""
    offer = await recv_until(ws, "offer", timeout=5)
    await send(ws, type="accept", offer_id=offer["offer_id"])
    await recv_until(ws, "assigned", conversation_id=offer["conversation_id"])
    return offer


async def frames_before_pong(ws: ClientConnection) -> list[str]:
    """The types of the frames already sent to ``ws``: a ping's pong comes after them."""
    await send(ws, type="ping")
    frames = []
    while (frame := await recv(ws))["type"] != "pong":
        frames.append(frame["type"])
    return frames


async def waiting_conversation(srv: Server, **session: object) -> tuple[str, ClientConnection]:
    """A visitor who has written (a conversation enters routing with its first message)."""
    created = new_session(srv.http, **session)
    v, _ = await visitor(srv.ws, created["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello, I need help")
    await recv_until(v, "ack")
    return created["conversation_id"], v


async def test_offer_rejected_goes_to_the_next_agent_who_accepts(srv: Server):
    a1, _ = await agent(srv.ws, new_agent(srv))
    a2, _ = await agent(srv.ws, new_agent(srv))
    cid, v = await waiting_conversation(srv, name="Rita", prechat={"topic": "returns"})

    # Both are idle; whoever gets it first rejects it.
    first, offer = await first_offer(a1, a2)
    second = a2 if first is a1 else a1
    assert offer["conversation_id"] == cid
    assert offer["context"]["customer"]["name"] == "Rita"
    assert offer["context"]["prechat"] == {"topic": "returns"}
    assert offer["channel"] == "webchat" and offer["queue"] == "default"
    assert offer["expires_at"].endswith("Z")
    await recv_until(v, "status", status="offered")

    await send(first, type="reject", offer_id=offer["offer_id"], reason="not my area")
    again = await recv_until(second, "offer", timeout=5)
    assert again["conversation_id"] == cid and again["offer_id"] != offer["offer_id"]
    await send(second, type="accept", offer_id=again["offer_id"])
    assert (await recv_until(second, "assigned"))["conversation_id"] == cid
    transcript = await recv_until(second, "message", conversation_id=cid)
    assert transcript["text"] == "hello, I need help"
    await recv_until(v, "status", status="assigned")

    # A stale accept of the rejected offer is refused with an error frame.
    await send(first, type="accept", offer_id=offer["offer_id"])
    error = await recv_until(first, "error")
    assert error["ref"] == offer["offer_id"] and error["code"] == "offer_rejected"
    await asyncio.gather(a1.close(), a2.close(), v.close())


async def test_offer_times_out_and_goes_to_the_next_agent(srv: Server):
    slow, _ = await agent(srv.ws, new_agent(srv))
    cid, v = await waiting_conversation(srv)
    offer = await recv_until(slow, "offer", timeout=5)
    fast, _ = await agent(srv.ws, new_agent(srv))
    revoked = await recv_until(slow, "offer_revoked", timeout=5)
    assert (revoked["offer_id"], revoked["reason"]) == (offer["offer_id"], "timeout")
    moved = await recv_until(fast, "offer", timeout=5)
    assert moved["conversation_id"] == cid
    await asyncio.gather(slow.close(), fast.close(), v.close())


async def test_agent_disconnecting_mid_offer_sends_the_item_on_at_once(srv: Server):
    leaving, _ = await agent(srv.ws, new_agent(srv))
    cid, v = await waiting_conversation(srv)
    await recv_until(leaving, "offer", timeout=5)
    staying, _ = await agent(srv.ws, new_agent(srv))
    await leaving.close()
    offer = await recv_until(staying, "offer", timeout=1.5)  # well before the 2 s expiry
    assert offer["conversation_id"] == cid
    await asyncio.gather(staying.close(), v.close())


async def test_away_agent_gets_no_offers_and_unknown_status_is_an_error(srv: Server):
    away, welcome = await agent(srv.ws, new_agent(srv))
    assert welcome["presence"] == "available"
    await send(away, type="presence", status="away")
    await recv_until(away, "presence", status="away")
    await send(away, type="presence", status="napping")
    error = await recv_until(away, "error")
    assert error["code"] == "unknown_status" and "napping" in error["message"]
    cid, v = await waiting_conversation(srv)
    helper, _ = await agent(srv.ws, new_agent(srv))
    assert (await recv_until(helper, "offer", timeout=5))["conversation_id"] == cid
    await send(away, type="ping")
    assert (await recv(away))["type"] == "pong"  # no offer came first
    await asyncio.gather(away.close(), helper.close(), v.close())


async def test_many_conversations_never_go_to_two_agents(srv: Server):
    tokens = [new_agent(srv) for _ in range(3)]
    agents = [(await agent(srv.ws, t))[0] for t in tokens]
    assigned: dict[str, list[int]] = {}
    all_assigned = asyncio.Event()

    async def work(index: int, ws: ClientConnection) -> None:
        while True:
            frame = await recv(ws, timeout=8)
            if frame["type"] == "offer":
                await send(ws, type="accept", offer_id=frame["offer_id"])
            elif frame["type"] == "assigned":
                assigned.setdefault(frame["conversation_id"], []).append(index)
                if len(assigned) == 12:
                    all_assigned.set()
                await send(ws, type="close", conversation_id=frame["conversation_id"])

    workers = [asyncio.create_task(work(i, ws)) for i, ws in enumerate(agents)]
    visitors = [await waiting_conversation(srv) for _ in range(12)]
    await asyncio.wait_for(all_assigned.wait(), 30)
    for task in workers:
        task.cancel()
    assert sorted(assigned) == sorted(cid for cid, _ in visitors)
    assert all(len(who) == 1 for who in assigned.values())
    assert len({i for who in assigned.values() for i in who}) > 1  # work was spread
    await asyncio.gather(*(ws.close() for ws in agents), *(v.close() for _, v in visitors))


async def test_supervisor_sees_queues_and_agents(srv: Server):
    boss = token(srv.http, "boss", PASSWORD)
    sup, _ = await agent(srv.ws, boss)
    _cid, v = await waiting_conversation(srv)  # nobody available: it waits
    async with asyncio.timeout(5):
        while True:
            operations = await recv_until(sup, "operations")
            if operations["queues"]["default"]["waiting"] == 1:
                break
    queues = httpx.get(srv.http + "/api/v1/queues", headers=bearer(boss)).json()["queues"]
    assert queues["default"]["waiting"] == 1
    agents = httpx.get(srv.http + "/api/v1/agents", headers=bearer(boss)).json()["agents"]
    assert all({"presence", "load", "capacity"} <= set(a) for a in agents.values())
    an_agent = new_agent(srv)
    assert httpx.get(srv.http + "/api/v1/agents", headers=bearer(an_agent)).status_code == 403
    await asyncio.gather(sup.close(), v.close())


async def test_transfer_to_unknown_queue_is_refused(srv: Server):
    tok = new_agent(srv)
    a, _ = await agent(srv.ws, tok)
    cid, v = await waiting_conversation(srv)
    await accept_next_offer(a)
    await send(a, type="transfer", conversation_id=cid, queue="nowhere")
    error = await recv_until(a, "error")
    assert error["code"] == "unknown_queue" and "default" in error["message"]
    await asyncio.gather(a.close(), v.close())


async def test_supervisors_watch_but_are_not_offered_work(srv: Server):
    sup, welcome = await agent(srv.ws, token(srv.http, "boss", PASSWORD))
    assert welcome["presence"] == "offline"
    await send(sup, type="presence", status="available")
    assert (await recv_until(sup, "error"))["code"] == "not_routed"
    _cid, v = await waiting_conversation(srv)
    worker, _ = await agent(srv.ws, new_agent(srv))
    await recv_until(worker, "offer", timeout=5)
    assert "offer" not in await frames_before_pong(sup)
    await asyncio.gather(sup.close(), worker.close(), v.close())


async def test_waiting_work_survives_a_restart_and_is_offered_after_it(srv: Server):
    cid, v = await waiting_conversation(srv, name="Patient")  # nobody is connected
    await v.close()
    srv.stop()
    srv.start()
    a, _ = await agent(srv.ws, new_agent(srv))
    offer = await recv_until(a, "offer", timeout=5)
    assert offer["conversation_id"] == cid
    assert offer["context"]["customer"]["name"] == "Patient"
    await a.close()


def routing_view(srv: Server) -> tuple[dict, dict]:
    """The router's own queues and agents, as a supervisor sees them."""
    boss = bearer(token(srv.http, "boss", PASSWORD))
    queues = httpx.get(srv.http + "/api/v1/queues", headers=boss).json()["queues"]
    return queues["default"], httpx.get(srv.http + "/api/v1/agents", headers=boss).json()["agents"]


async def test_work_taken_by_hand_leaves_the_line(srv: Server):
    """Taken over HTTP by an agent who never connected, or by a supervisor:
    the router must not keep it in line (it would be offered to the next
    agent for nothing), and the agent's load counts it, also after a restart."""
    by_agent, v1 = await waiting_conversation(srv)
    by_boss, v2 = await waiting_conversation(srv)
    assert routing_view(srv)[0]["waiting"] == 2
    offline = new_agent(srv, capacity={"channels": {"webchat": 1}})
    offline_id = httpx.get(srv.http + "/api/v1/me", headers=bearer(offline)).json()["id"]
    for cid, taker in ((by_agent, offline), (by_boss, token(srv.http, "boss", PASSWORD))):
        taken = httpx.post(f"{srv.http}/api/v1/conversations/{cid}/assign", headers=bearer(taker))
        assert taken.status_code == 200, taken.text
    await asyncio.gather(v1.close(), v2.close())

    for restart in (False, True):
        if restart:
            srv.stop()
            srv.start()
        async with asyncio.timeout(5):  # the takes reach the router through its event log
            while (view := routing_view(srv))[0]["waiting"] or view[0]["offered"]:
                await asyncio.sleep(0.05)
        assert view[1][offline_id]["assigned"] == [by_agent]
        full, _ = await agent(srv.ws, offline)  # at capacity: offered nothing
        idle, _ = await agent(srv.ws, new_agent(srv))
        fresh, v = await waiting_conversation(srv)
        assert (await accept_next_offer(idle))["conversation_id"] == fresh
        assert "offer" not in await frames_before_pong(full)
        await asyncio.gather(full.close(), idle.close(), v.close())


async def test_account_changes_reach_the_router_at_once(srv: Server):
    worker = new_agent(srv)
    a, welcome = await agent(srv.ws, worker)
    root = bearer(token(srv.http, "root", PASSWORD))
    edited = httpx.patch(
        f"{srv.http}/api/v1/users/{welcome['agent_id']}",
        json={"capacity": {"channels": {"webchat": 7}}},
        headers=root,
    )
    assert edited.status_code == 200, edited.text
    async with asyncio.timeout(5):  # no reconnect needed
        while routing_view(srv)[1][welcome["agent_id"]]["capacity"] != {"webchat": 7}:
            await asyncio.sleep(0.05)
    await a.close()


async def test_a_disabled_agent_is_cut_off_and_their_work_goes_back_in_line(srv: Server):
    leaving_token = new_agent(srv)
    leaving, welcome = await agent(srv.ws, leaving_token)
    cid, v = await waiting_conversation(srv)
    await accept_next_offer(leaving)
    await recv_until(v, "status", status="assigned")

    root = bearer(token(srv.http, "root", PASSWORD))
    disabled = httpx.patch(
        f"{srv.http}/api/v1/users/{welcome['agent_id']}", json={"disabled": True}, headers=root
    )
    assert disabled.status_code == 200, disabled.text
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv(leaving)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    await recv_until(v, "status", status="queued")
    me = httpx.get(srv.http + "/api/v1/me", headers=bearer(leaving_token))
    assert me.status_code == 401

    taking_over, _ = await agent(srv.ws, new_agent(srv))
    offer = await recv_until(taking_over, "offer", timeout=5)
    assert offer["conversation_id"] == cid
    await asyncio.gather(taking_over.close(), v.close())


async def test_an_agent_made_supervisor_leaves_routing_but_keeps_their_work(srv: Server):
    changing, welcome = await agent(srv.ws, new_agent(srv))
    me = welcome["agent_id"]
    cid, v = await waiting_conversation(srv)
    await accept_next_offer(changing)
    await recv_until(v, "status", status="assigned")
    root = bearer(token(srv.http, "root", PASSWORD))

    def make(role: str) -> None:
        made = httpx.patch(f"{srv.http}/api/v1/users/{me}", json={"role": role}, headers=root)
        assert made.status_code == 200, made.text

    make("supervisor")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv(changing)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    other, _ = await agent(srv.ws, new_agent(srv))
    for _ in range(5):  # out of routing, and nobody else is offered their conversation
        line, agents = routing_view(srv)
        assert me not in agents
        assert (line["waiting"], line["offered"]) == (0, 0)
        await asyncio.sleep(0.1)
    held = httpx.get(f"{srv.http}/api/v1/conversations/{cid}", headers=root).json()
    assert (held["status"], held["assigned_agent_id"]) == ("assigned", me)

    make("agent")
    for _ in range(50):
        if me in (agents := routing_view(srv)[1]):
            break
        await asyncio.sleep(0.1)
    assert agents[me]["assigned"] == [cid]
    await asyncio.gather(other.close(), v.close())


async def test_a_supervisor_hands_back_what_they_took_and_it_is_routed(srv: Server):
    boss_token = token(srv.http, "boss", PASSWORD)
    cid, v = await waiting_conversation(srv)
    taken = httpx.post(f"{srv.http}/api/v1/conversations/{cid}/assign", headers=bearer(boss_token))
    assert taken.status_code == 200, taken.text
    boss, _ = await agent(srv.ws, boss_token)
    await send(boss, type="transfer", conversation_id=cid, queue="default", note="yours")
    await recv_until(v, "status", status="queued")
    worker, _ = await agent(srv.ws, new_agent(srv))
    assert (await recv_until(worker, "offer", timeout=5))["conversation_id"] == cid
    await asyncio.gather(boss.close(), worker.close(), v.close())


async def test_taking_ones_own_offer_by_hand_keeps_it(srv: Server):
    taker_token = new_agent(srv)
    taker, welcome = await agent(srv.ws, taker_token)
    cid, v = await waiting_conversation(srv)
    await recv_until(taker, "offer", timeout=5)
    taken = httpx.post(f"{srv.http}/api/v1/conversations/{cid}/assign", headers=bearer(taker_token))
    assert taken.status_code == 200, taken.text
    await recv_until(taker, "assigned")
    for _ in range(10):  # and it stays so: the router does not put it back in line
        line, agents = routing_view(srv)
        assert agents[welcome["agent_id"]]["assigned"] == [cid]
        assert (line["waiting"], line["offered"]) == (0, 0)
        await asyncio.sleep(0.1)
    await asyncio.gather(taker.close(), v.close())
