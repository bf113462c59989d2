"""``switchboard serve --workers 2`` on PostgreSQL and Redis, as real processes:
both workers take connections on one port, each is a cluster node, work on
one is offered to an agent on the other, a worker that dies is restarted,
and SIGTERM to the parent ends them all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import PASSWORD
from tests.e2e.test_cluster import USERS, admin_get, wait_for
from tests.support.clients import bearer, msg_id, new_session, recv, recv_until, send, token
from tests.support.server import Server, alive
from tests.support.services import redis_url, scratch_postgres

TTL = 2.0


@pytest.fixture
def workers(workdir: Path) -> Iterator[Server]:
    """One ``serve --workers 2`` process, once both workers are cluster members."""
    env = {
        "SWITCHBOARD_ROUTER_LEASE_TTL_S": str(TTL),
        "SWITCHBOARD_USERS": f"[{USERS}]",
        "CLUSTER_PASSWORD": PASSWORD,
        "SWITCHBOARD_REDIS_URL": redis_url(),
    }
    with scratch_postgres() as database:
        server = Server(workdir, database, serve_args=("--workers", "2"), **env)
        server.start(90.0)
        try:
            wait_for(lambda: len(node_ids(server)) == 2, "both workers to join", timeout=60)
            yield server
        finally:
            server.stop()


def node_ids(server: Server) -> set[str]:
    return {n["id"] for n in admin_get(server, "/api/v1/cluster")["nodes"]}


def agents_per_node(server: Server) -> dict[str, int]:
    return {n["id"]: n["agents"] for n in admin_get(server, "/api/v1/cluster")["nodes"]}


def pid_of(node_id: str) -> int:
    """A node id is ``host-pid-random``."""
    return int(node_id.rsplit("-", 2)[1])


def _worker_socket(server: Server, wanted: Callable[[str], bool]) -> tuple[socket.socket, str]:
    """A TCP connection to a worker ``wanted`` accepts: ask each new
    connection which node it reached (``GET /api/v1/cluster``, kept alive),
    and keep the first that fits for a websocket."""
    auth = f"Authorization: Bearer {token(server.http, 'root', PASSWORD)}\r\n"
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        request = f"GET /api/v1/cluster HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{auth}\r\n"
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        node = json.loads(body)["self"]
        if wanted(node):
            return sock, node
        sock.close()
    raise AssertionError("no connection reached the wanted worker in 200 tries")


async def _hello(server: Server, path: str, tok: str, sock: socket.socket) -> ClientConnection:
    ws = await websockets.connect(server.ws + path, sock=sock)
    await ws.send(json.dumps({"type": "hello", "token": tok}))
    welcome: dict[str, Any] = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return ws


async def test_two_workers_share_a_port_and_route_as_one_cluster(workers: Server):
    ids = node_ids(workers)
    # New connections land on both workers (the kernel picks the one that accepts).
    reached: set[str] = set()
    for _ in range(200):
        reached.add(
            httpx.get(workers.http + "/api/v1/cluster", headers=_admin(workers)).json()["self"]
        )
        if reached == ids:
            break
    assert reached == ids

    # A conversation on one worker is offered to an agent on the other.
    session = new_session(workers.http)
    sock, visitor_node = _worker_socket(workers, lambda node: True)
    v = await _hello(workers, "/ws/visitor", session["visitor_token"], sock)
    sock, agent_node = _worker_socket(workers, lambda node: node != visitor_node)
    bea = await _hello(workers, "/ws/agent", token(workers.http, "bea", PASSWORD), sock)
    wait_for(  # (each node's count comes with its next heartbeat)
        lambda: agents_per_node(workers) == {visitor_node: 0, agent_node: 1},
        "the agent's worker to count her",
    )
    await send(v, type="message", client_msg_id=msg_id(), text="hello from one worker")
    await recv_until(v, "ack")
    offer = await recv_until(bea, "offer", timeout=5)
    assert offer["conversation_id"] == session["conversation_id"]
    await send(bea, type="accept", offer_id=offer["offer_id"])
    await recv_until(bea, "assigned", conversation_id=session["conversation_id"])
    await recv_until(v, "status", status="assigned")
    await asyncio.gather(v.close(), bea.close())

    # A worker that dies is restarted (a new node), and the parent logs it.
    dead = visitor_node
    os.kill(pid_of(dead), signal.SIGKILL)
    wait_for(
        lambda: dead not in node_ids(workers) and len(node_ids(workers)) == 2,
        "the dead worker to be replaced",
        timeout=TTL + 30,
    )
    assert "exited with SIGKILL" in workers.output()
    pids = [pid_of(node) for node in node_ids(workers)]

    # SIGTERM to the parent stops every worker, and the parent exits cleanly.
    assert workers.stop(signal.SIGTERM) == 0
    assert not any(alive(pid) for pid in pids)


def _admin(server: Server) -> dict[str, str]:
    return bearer(token(server.http, "root", PASSWORD))


def test_workers_need_redis_and_postgresql(workdir: Path):
    server = Server(workdir, f"sqlite:///{workdir / 'one.sqlite3'}")
    server.env.pop("SWITCHBOARD_REDIS_URL", None)
    refused = server.cli("serve", "--workers", "2")
    assert refused.returncode == 2
    assert "--workers 2" in refused.stderr and "Redis" in refused.stderr
    assert "PostgreSQL" in refused.stderr


def test_a_worker_that_cannot_start_is_restarted_with_a_back_off(workdir: Path):
    """Redis and PostgreSQL named but the database unreachable: the workers
    die at start-up, and the parent restarts them (logged), not in a spin;
    SIGTERM still ends it cleanly."""
    port = _closed_port()
    server = Server(
        workdir,
        f"postgresql://postgres:postgres@127.0.0.1:{port}/none",
        serve_args=("--workers", "2"),
        SWITCHBOARD_REDIS_URL=redis_url(),
        SWITCHBOARD_LOG_LEVEL="info",
    )
    process = _spawn(server)
    try:
        wait_for(lambda: "restarting in 2 s" in server.output(), "a second restart", timeout=90)
        assert "restarting in 1 s" in server.output()  # then 2 s, 4 s, ... up to 30 s
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(server: Server) -> Any:
    import subprocess
    import sys

    with server.log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", *server.serve_args],
            env=server.env,
            cwd=server.workdir,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
