"""The cluster's one router, on real processes with PostgreSQL and Redis:
work on one node is offered to an agent on another, and the routing node
can die (SIGKILL) with an offer out."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import websockets

from tests.conftest import PASSWORD
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    new_session,
    recv,
    recv_until,
    send,
    token,
)
from tests.support.clients import visitor as visitor_ws
from tests.support.proxy import Proxy
from tests.support.server import Server
from tests.support.services import redis_url, scratch_postgres

TTL = 2.0
OFFER_TIMEOUT = 3.0
CONFIG = f"""
[routing.offers]
timeout = {OFFER_TIMEOUT:g}

[routing.presence]
on_offer_timeout = "away"

[routing.queues.default]

[routing.queues.billing]

[[routing.intake]]
name = "billing"
when = 'message contains "invoice"'
queue = "billing"
"""


USERS = ",".join(
    f'{{"username": "{name}", "role": "{role}", "password_env": "CLUSTER_PASSWORD"}}'
    for name, role in (("ann", "agent"), ("bea", "agent"), ("root", "admin"))
)


@pytest.fixture
def nodes(workdir: Path) -> Iterator[tuple[Server, Server]]:
    """Two nodes on one PostgreSQL and one Redis, started together: the
    one that took the router lease first, then the other."""
    url = redis_url()
    env = {
        "SWITCHBOARD_ROUTER_LEASE_TTL_S": str(TTL),
        "SWITCHBOARD_USERS": f"[{USERS}]",
        "CLUSTER_PASSWORD": PASSWORD,
    }
    parsed = urlsplit(url)
    proxies = [Proxy(parsed.hostname or "127.0.0.1", parsed.port or 6379) for _ in range(2)]
    with scratch_postgres() as database, proxies[0], proxies[1]:
        pair = []
        for proxy in proxies:  # each node reaches Redis through a proxy a test can cut
            through = urlunsplit(parsed._replace(netloc=f"127.0.0.1:{proxy.port}"))
            node = Server(workdir, database, config=CONFIG, **env, SWITCHBOARD_REDIS_URL=through)
            node.proxy = proxy  # type: ignore[attr-defined]
            pair.append(node)
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(node.start, 90.0) for node in pair]
        try:
            for future in started:
                future.result()
            wait_for(lambda: any(map(routes, pair)), "a node to take the router lease")
            yield (pair[0], pair[1]) if routes(pair[0]) else (pair[1], pair[0])
        finally:
            for node in pair:
                if node.process is not None:
                    node.stop()


def admin_get(node: Server, path: str) -> dict[str, Any]:
    return admin_token_get(node, "root", path)


def admin_token_get(node: Server, username: str, path: str) -> dict[str, Any]:
    reply = httpx.get(node.http + path, headers=bearer(token(node.http, username, PASSWORD)))
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def routes(node: Server) -> bool:
    view = admin_get(node, "/api/v1/cluster")
    return any(n["id"] == view["self"] and n["router"] for n in view["nodes"])


def timeline(node: Server, cid: str) -> list[str]:
    """The kinds of a conversation's timeline entries, read from the database."""
    import psycopg

    with psycopg.connect(node.database_url) as db:
        rows = db.execute(
            "SELECT type FROM timeline WHERE conversation_id = %s ORDER BY id", (cid,)
        ).fetchall()
    return [row[0] for row in rows]


def wait_for(check: Any, what: str, timeout: float = 10.0) -> float:
    """Poll until ``check()``; the seconds it took."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


async def test_work_on_one_node_is_offered_to_an_agent_on_another(nodes):
    a_node, b_node = nodes
    session = new_session(a_node.http)
    cid = session["conversation_id"]
    v, _ = await visitor_ws(a_node.ws, session["visitor_token"])
    # The welcome on a node that does not route already says what the router says.
    bea, welcome = await agent(b_node.ws, token(b_node.http, "bea", PASSWORD))
    assert welcome["presence"] == "available"
    assert not routes(b_node)
    # The router's queues and agents are seen from every node.
    agent_id = welcome["agent_id"]
    wait_for(
        lambda: admin_get(b_node, "/api/v1/agents")["agents"].get(agent_id, {}).get("connected"),
        "the other node to show the agent",
        timeout=3,
    )
    assert "default" in admin_get(b_node, "/api/v1/queues")["queues"]

    await send(v, type="message", client_msg_id=msg_id(), text="hello from node A")
    await recv_until(v, "ack")
    offer = await recv_until(bea, "offer", timeout=5)
    assert offer["conversation_id"] == cid
    await send(bea, type="accept", offer_id=offer["offer_id"])
    await recv_until(bea, "assigned", conversation_id=cid)
    await recv_until(v, "status", status="assigned")

    view = admin_get(b_node, "/api/v1/cluster")
    assert len(view["nodes"]) == 2 and view["log_lag"] == 0
    assert [n["router"] for n in view["nodes"]].count(True) == 1
    here = next(n for n in view["nodes"] if n["id"] == view["self"])
    assert here["agents"] == 1 and not here["router"]
    await asyncio.gather(v.close(), bea.close())


async def test_the_routing_node_dies_with_an_offer_out(nodes):
    """SIGKILL the router while an offer is out: the surviving node routes
    within the lease TTL, the conversation is offered again within TTL plus
    one offer timeout, it gets one owner, and every acknowledged message is
    still there."""
    a_node, b_node = nodes
    on_a = new_session(a_node.http)
    va, _ = await visitor_ws(a_node.ws, on_a["visitor_token"])
    acked = []
    for n in range(5):
        await send(va, type="message", client_msg_id=msg_id(), text=f"a{n}")
        acked.append((await recv_until(va, "ack"))["message_id"])

    session = new_session(b_node.http)
    cid = session["conversation_id"]
    v, _ = await visitor_ws(b_node.ws, session["visitor_token"])
    bea, welcome = await agent(b_node.ws, token(b_node.http, "bea", PASSWORD))
    # The conversation on node A went to bea first: accept it, so the next is an offer.
    await send(bea, type="accept", offer_id=(await recv_until(bea, "offer", timeout=5))["offer_id"])
    await recv_until(bea, "assigned", conversation_id=on_a["conversation_id"])
    await send(v, type="message", client_msg_id=msg_id(), text="waiting on node B")
    acked.append((await recv_until(v, "ack"))["message_id"])
    first = await recv_until(bea, "offer", timeout=5, conversation_id=cid)

    killed = time.monotonic()
    a_node.stop(signal.SIGKILL)
    again = await recv_until(bea, "offer", timeout=TTL + OFFER_TIMEOUT + 2, conversation_id=cid)
    assert time.monotonic() - killed < TTL + OFFER_TIMEOUT + 1.5
    assert again["offer_id"] != first["offer_id"]
    assert routes(b_node)
    # The dead router's offer is gone: accepting it is refused, the new one works.
    await send(bea, type="accept", offer_id=first["offer_id"])
    refused = await recv_until(bea, "error", timeout=3)
    assert refused["ref"] == first["offer_id"]
    await send(bea, type="accept", offer_id=again["offer_id"])
    await recv_until(bea, "assigned", conversation_id=cid)

    admin = bearer(token(b_node.http, "root", PASSWORD))
    got = httpx.get(b_node.http + f"/api/v1/conversations/{cid}", headers=admin).json()
    assert (got["status"], got["assigned_agent_id"]) == ("assigned", welcome["agent_id"])
    assert timeline(b_node, cid).count("assigned") == 1  # never two owners
    stored = set()
    for conversation_id in (on_a["conversation_id"], cid):
        reply = httpx.get(
            b_node.http + f"/api/v1/conversations/{conversation_id}/messages", headers=admin
        )
        stored |= {m["message_id"] for m in reply.json()["messages"]}
    assert set(acked) <= stored
    # The dead node leaves the cluster's view once its heartbeats are TTL old.
    wait_for(lambda: len(admin_get(b_node, "/api/v1/cluster")["nodes"]) == 1, "the dead node to go")
    await asyncio.gather(va.close(), v.close(), bea.close())


async def test_a_node_cut_off_from_redis_stops_rather_than_split_the_brain(nodes):
    """The routing node loses Redis while its sockets stay up: within the
    lease TTL it closes them (1013), refuses new ones and says 503 on
    /readyz; the other node routes, and the agent, reconnected there, is
    offered the work."""
    cut, other = nodes
    session = new_session(other.http)
    v, _ = await visitor_ws(other.ws, session["visitor_token"])
    bea, _ = await agent(cut.ws, token(cut.http, "bea", PASSWORD))

    started = time.monotonic()
    cut.proxy.cut()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await recv(bea, timeout=TTL + 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert time.monotonic() - started < TTL + 2.5
    assert httpx.get(cut.http + "/readyz").status_code == 503
    with pytest.raises(websockets.ConnectionClosed):  # no new sockets either
        await agent(cut.ws, token(cut.http, "bea", PASSWORD))
    wait_for(lambda: routes(other), "the other node to route", timeout=TTL + 3)

    bea, welcome = await agent(other.ws, token(other.http, "bea", PASSWORD))
    assert welcome["presence"] == "available"
    await send(v, type="message", client_msg_id=msg_id(), text="anyone there?")
    offer = await recv_until(bea, "offer", timeout=5)
    assert offer["conversation_id"] == session["conversation_id"]

    cut.proxy.heal()  # back: ready again, and not the router
    wait_for(lambda: httpx.get(cut.http + "/readyz").status_code == 200, "the node to be back")
    assert not routes(cut) and routes(other)
    await asyncio.gather(v.close(), bea.close())


async def test_an_arrival_lost_with_its_node_is_routed_by_the_rescan(nodes):
    """A node stores (and acknowledges) a first message but dies before its
    arrival reaches the log: the router finds the queued conversation and
    offers it anyway."""
    router, lost = nodes
    bea, _ = await agent(router.ws, token(router.http, "bea", PASSWORD))
    session = new_session(lost.http)
    v, _ = await visitor_ws(lost.ws, session["visitor_token"])
    lost.proxy.cut()  # the append cannot reach Redis; the database still takes the message
    await send(v, type="message", client_msg_id=msg_id(), text="stored, then the node died")
    await recv_until(v, "ack")
    lost.stop(signal.SIGKILL)
    offer = await recv_until(bea, "offer", timeout=3 * TTL + 3)
    assert offer["conversation_id"] == session["conversation_id"]
    await bea.close()


async def test_presence_the_router_set_survives_a_takeover(nodes):
    """An agent who let an offer time out is ``away`` (the router set it,
    not the agent); the next router keeps her away rather than offer again."""
    router, other = nodes
    bea, welcome = await agent(other.ws, token(other.http, "bea", PASSWORD))
    session = new_session(other.http)
    v, _ = await visitor_ws(other.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello?")
    await recv_until(bea, "offer", timeout=5)
    await recv_until(bea, "presence", timeout=OFFER_TIMEOUT + 2, status="away")
    router.stop(signal.SIGKILL)
    wait_for(lambda: routes(other), "the other node to route", timeout=TTL + 3)
    agents = admin_get(other, "/api/v1/agents")["agents"]
    assert agents[welcome["agent_id"]]["presence"] == "away"
    with pytest.raises(TimeoutError):
        await recv_until(bea, "offer", timeout=1.5)
    await asyncio.gather(v.close(), bea.close())


def test_one_process_is_a_cluster_of_one_routing_node(server: Server):
    """The embedded default (no Redis): ``/api/v1/cluster`` shows this node, routing."""
    view = admin_token_get(server, "ada", "/api/v1/cluster")
    assert view["log_lag"] == 0
    assert [(n["id"], n["router"]) for n in view["nodes"]] == [(view["self"], True)]
    assert isinstance(view["nodes"][0]["agents"], int) and view["nodes"][0]["last_seen"]
    refused = httpx.get(
        server.http + "/api/v1/cluster", headers=bearer(token(server.http, "sam", PASSWORD))
    )
    assert refused.status_code == 403 and "error" in refused.json()


async def test_a_supervisors_transfer_through_another_node_is_routed(nodes):
    """A supervisor takes a conversation on the routing node and hands it
    back through the other node, which never saw the take: the router,
    which let the conversation go, puts it in line again from the store
    (it would otherwise stay queued and unrouted)."""
    router, other = nodes
    session = new_session(router.http)
    cid = session["conversation_id"]
    v, _ = await visitor_ws(router.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello?")
    await recv_until(v, "ack")
    root = token(router.http, "root", PASSWORD)
    taken = httpx.post(f"{router.http}/api/v1/conversations/{cid}/assign", headers=bearer(root))
    assert taken.status_code == 200, taken.text

    boss, _ = await agent(other.ws, token(other.http, "root", PASSWORD))
    await send(boss, type="transfer", conversation_id=cid, queue="default", note="yours")
    await recv_until(v, "status", status="queued")
    bea, _ = await agent(other.ws, token(other.http, "bea", PASSWORD))
    offer = await recv_until(bea, "offer", timeout=3 * TTL + 3)
    assert offer["conversation_id"] == cid
    await asyncio.gather(v.close(), boss.close(), bea.close())


async def test_a_first_message_while_no_node_routes_keeps_its_intake(nodes):
    """The router dies; before the other node takes over, a conversation's
    first message arrives ("invoice": intake sends it to billing). Its
    arrival is in the log before the new router's snapshot: the new router
    takes it from the log (the store has no first message to run intake
    on), and the conversation is offered in the billing queue."""
    router, other = nodes
    bea, _ = await agent(other.ws, token(other.http, "bea", PASSWORD))
    session = new_session(other.http)
    v, _ = await visitor_ws(other.ws, session["visitor_token"])
    router.stop(signal.SIGKILL)
    await send(v, type="message", client_msg_id=msg_id(), text="a question about my invoice")
    await recv_until(v, "ack")
    assert not routes(other)  # it arrived while no node routed
    offer = await recv_until(bea, "offer", timeout=TTL + 5)
    assert (offer["conversation_id"], offer["queue"]) == (session["conversation_id"], "billing")
    await asyncio.gather(v.close(), bea.close())
