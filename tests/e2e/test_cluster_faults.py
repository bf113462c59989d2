"""Redis and PostgreSQL restart under a two-node cluster of real
``switchboard serve`` processes, with traffic flowing. Each test runs its
own redis-server or PostgreSQL (never the machine's shared ones) so it can
kill and start it again; it skips when their binaries are absent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.conftest import PASSWORD
from tests.e2e.test_cluster import CONFIG, USERS, admin_get, routes, wait_for
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
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.server import Server
from tests.support.services import redis_url, scratch_postgres

TTL = 2.0


@contextmanager
def two_nodes(workdir: Path, database: str, redis: str) -> Iterator[tuple[Server, Server]]:
    """Two nodes on ``database`` and ``redis``: the router first."""
    env = {
        "SWITCHBOARD_ROUTER_LEASE_TTL_S": str(TTL),
        "SWITCHBOARD_USERS": f"[{USERS}]",
        "CLUSTER_PASSWORD": PASSWORD,
        "SWITCHBOARD_REDIS_URL": redis,
    }
    pair = [Server(workdir, database, config=CONFIG, **env) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(node.start, 90.0) for node in pair]:
                future.result()
        wait_for(lambda: any(map(routes, pair)), "a node to take the router lease")
        yield (pair[0], pair[1]) if routes(pair[0]) else (pair[1], pair[0])
    finally:
        for node in pair:
            if node.process is not None:
                node.stop()


def ready(node: Server) -> tuple[int, list[str]]:
    reply = httpx.get(node.http + "/readyz", timeout=5)
    return reply.status_code, reply.json().get("down", [])


def stored_ids(node: Server, *cids: str) -> set[str]:
    admin = bearer(token(node.http, "root", PASSWORD))
    found: set[str] = set()
    for cid in cids:
        reply = httpx.get(node.http + f"/api/v1/conversations/{cid}/messages", headers=admin)
        assert reply.status_code == 200, reply.text
        found |= {m["message_id"] for m in reply.json()["messages"]}
    return found


async def closing(*sockets: ClientConnection) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def assigned_to_bea(
    v: ClientConnection, bea: ClientConnection, cid: str, text: str
) -> tuple[list[str], str]:
    """The visitor writes, bea is offered the conversation and takes it; the
    acknowledged message ids and the offer's id."""
    await send(v, type="message", client_msg_id=msg_id(), text=text)
    acked = [(await recv_until(v, "ack"))["message_id"]]
    offer = await recv_until(bea, "offer", timeout=10, conversation_id=cid)
    await send(bea, type="accept", offer_id=offer["offer_id"])
    await recv_until(bea, "assigned", conversation_id=cid)
    return acked, offer["offer_id"]


def fencing_token(offer_id: str) -> int:
    """``o-7.3``: the third offer of the router with token 7."""
    return int(offer_id.removeprefix("o-").partition(".")[0])


# -- Redis ------------------------------------------------------------------------


@pytest.fixture
def redis_cluster(workdir: Path) -> Iterator[tuple[RedisServer, Server, Server]]:
    with RedisServer(workdir) as redis, scratch_postgres() as database:  # noqa: SIM117
        with two_nodes(workdir, database, redis.url) as (router, other):
            yield redis, router, other


async def test_redis_restarts_during_traffic(redis_cluster: tuple[RedisServer, Server, Server]):
    """Kill redis-server (it comes back empty: no persistence) while a
    conversation is live and another one's first message arrives: the
    database keeps acknowledging, /readyz says 503 until Redis is back, the
    nodes reconnect and a router takes over again (its token above the
    store's fence although Redis counts from 1 again), the visitor catches
    up on the reply it missed live with ``after_seq``, the waiting
    conversation is offered, and every acknowledged message is stored."""
    redis, router, other = redis_cluster
    session = new_session(router.http)
    cid = session["conversation_id"]
    v, _ = await visitor_ws(router.ws, session["visitor_token"])
    bea, _ = await agent(other.ws, token(other.http, "bea", PASSWORD))
    acked, first = await assigned_to_bea(v, bea, cid, "my parcel is late")
    await send(bea, type="message", conversation_id=cid, client_msg_id=msg_id(), text="checking")
    acked.append((await recv_until(bea, "ack"))["message_id"])
    seen = (await recv_until(v, "message", text="checking"))["seq"]

    redis.kill()
    # The database still stores (and acknowledges); the live fan-out is lost.
    missed = "it ships tomorrow"
    await send(bea, type="message", conversation_id=cid, client_msg_id=msg_id(), text=missed)
    acked.append((await recv_until(bea, "ack"))["message_id"])
    waiting = new_session(other.http)
    v2, _ = await visitor_ws(other.ws, waiting["visitor_token"])
    await send(v2, type="message", client_msg_id=msg_id(), text="is anyone there?")
    acked.append((await recv_until(v2, "ack"))["message_id"])
    for node in (router, other):
        wait_for(lambda n=node: ready(n) == (503, ["redis"]), "/readyz to say redis is down")
    await closing(v, v2, bea)  # (the nodes close them too, once cut off for a TTL)

    redis.start()
    for node in (router, other):
        wait_for(lambda n=node: ready(n)[0] == 200, "the node to be ready again", timeout=15)
    wait_for(lambda: routes(router) or routes(other), "a router again", timeout=15)

    # The visitor reconnects (to the other node) and catches up from its last seq.
    v, welcome = await visitor_ws(other.ws, session["visitor_token"], after_seq=seen)
    assert welcome["last_seq"] == seen + 1
    caught_up = await recv_until(v, "message")
    assert (caught_up["seq"], caught_up["text"]) == (seen + 1, missed)
    # Routing resumes: bea, back, is offered the conversation that waited.
    bea, _ = await agent(router.ws, token(router.http, "bea", PASSWORD))
    offer = await recv_until(bea, "offer", timeout=3 * TTL + 5)
    assert offer["conversation_id"] == waiting["conversation_id"]
    # Redis counts tokens from 1 again; the router's is still above the old one's.
    assert fencing_token(offer["offer_id"]) > fencing_token(first)
    await send(bea, type="accept", offer_id=offer["offer_id"])
    await recv_until(bea, "assigned", conversation_id=waiting["conversation_id"])

    assert set(acked) <= stored_ids(other, cid, waiting["conversation_id"])
    assert "routing the cluster" in router.output() + other.output()
    await closing(v, bea)


# -- PostgreSQL -------------------------------------------------------------------


@pytest.fixture
def postgres_cluster(workdir: Path) -> Iterator[tuple[PostgresServer, Server, Server]]:
    url = redis_url()
    with PostgresServer() as postgres, two_nodes(workdir, postgres.url, url) as pair:
        yield postgres, pair[0], pair[1]


async def test_postgresql_restarts_during_traffic(
    postgres_cluster: tuple[PostgresServer, Server, Server],
):
    """Stop a private PostgreSQL as a crash would (``pg_ctl -m immediate``)
    under the router and the log, with a conversation live: what was
    acknowledged survives; a message sent meanwhile is answered with
    ``storage_unavailable`` (never acknowledged, never silently dropped)
    and stored when sent again; /readyz says 503 meanwhile; routing goes on
    after: a new conversation is offered and taken."""
    postgres, router, other = postgres_cluster
    session = new_session(other.http)
    cid = session["conversation_id"]
    v, _ = await visitor_ws(other.ws, session["visitor_token"])
    bea, _ = await agent(router.ws, token(router.http, "bea", PASSWORD))
    acked, _ = await assigned_to_bea(v, bea, cid, "hello")
    for n in range(3):
        await send(v, type="message", client_msg_id=msg_id(), text=f"before {n}")
        acked.append((await recv_until(v, "ack"))["message_id"])

    postgres.stop("immediate")
    unsent = msg_id()
    await send(v, type="message", client_msg_id=unsent, text="during the outage")
    refused = await recv_until(v, "error", timeout=15)
    assert (refused["code"], refused["ref"]) == ("storage_unavailable", unsent)
    for node in (router, other):
        wait_for(lambda n=node: ready(n) == (503, ["database"]), "/readyz to say database")

    postgres.start()
    for node in (router, other):
        wait_for(lambda n=node: ready(n)[0] == 200, "the node to be ready again", timeout=15)
    # Sent again with the same client_msg_id, as the error said: stored once.
    await send(v, type="message", client_msg_id=unsent, text="during the outage")
    again = await _ack_or_error(v)
    assert again["type"] == "ack", again
    acked.append(again["message_id"])

    # Routing continues: a new conversation on the other node is offered to bea.
    later = new_session(other.http)
    v2, _ = await visitor_ws(other.ws, later["visitor_token"])
    await send(v2, type="message", client_msg_id=msg_id(), text="after the restart")
    acked.append((await recv_until(v2, "ack"))["message_id"])
    offer = await recv_until(bea, "offer", timeout=3 * TTL + 5)
    assert offer["conversation_id"] == later["conversation_id"]
    await send(bea, type="accept", offer_id=offer["offer_id"])
    await recv_until(bea, "assigned", conversation_id=later["conversation_id"])

    stored = stored_ids(router, cid, later["conversation_id"])
    assert set(acked) <= stored
    texts = [
        m["text"]
        for m in httpx.get(
            router.http + f"/api/v1/conversations/{cid}/messages",
            headers=bearer(token(router.http, "root", PASSWORD)),
        ).json()["messages"]
    ]
    assert texts.count("during the outage") == 1
    assert admin_get(router, "/api/v1/cluster")["log_lag"] == 0
    await closing(v, v2, bea)


async def _ack_or_error(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = await recv(ws)
        if frame["type"] in ("ack", "error"):
            return frame


def test_helpers_skip_cleanly_without_binaries(monkeypatch: pytest.MonkeyPatch, workdir: Path):
    """No redis-server or PostgreSQL on the machine: the fault tests skip
    with the reason, not fail."""
    import tests.support.postgres_server as pg

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(pg, "_bindir", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        RedisServer(workdir)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL server binaries"):
        PostgresServer()
