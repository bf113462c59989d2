"""Running the server: readiness, graceful shutdown, several nodes, the CLI."""

from __future__ import annotations

import asyncio
import signal

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
    visitor,
)
from tests.support.server import Server
from tests.support.services import redis_url, scratch_postgres


async def test_shutdown_stores_in_flight_messages_and_closes_1001(workdir, backend_url):
    srv = Server(workdir, backend_url).start()
    session = new_session(srv.http)
    v, _ = await visitor(srv.ws, session["visitor_token"])
    for i in range(20):
        await send(v, type="message", client_msg_id=f"late-{i}", text=f"m{i}")
    await recv_until(v, "ack")  # at least one is stored; the rest are in flight
    srv.process.send_signal(signal.SIGTERM)
    acked = 1
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            if (await recv(v))["type"] == "ack":
                acked += 1
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    # uvicorn re-raises SIGTERM once its graceful shutdown is done.
    assert srv.stop() in (0, -signal.SIGTERM)

    with Server(workdir, backend_url) as again:
        stored = httpx.get(
            again.http + f"/api/v1/conversations/{session['conversation_id']}/messages",
            headers=bearer(session["visitor_token"]),
        ).json()
        seqs = [m["seq"] for m in stored["messages"]]
        assert len(seqs) >= acked  # every ack stands for a stored message
        assert seqs == list(range(1, len(seqs) + 1))


def test_readyz_reports_a_dependency_that_is_down(workdir, tmp_path):
    # Nothing listens on port 1: Redis is "down".
    with Server(
        workdir, f"sqlite:///{tmp_path}/db.sqlite3", SWITCHBOARD_REDIS_URL="redis://127.0.0.1:1/0"
    ) as srv:
        assert httpx.get(srv.http + "/healthz").status_code == 200
        ready = httpx.get(srv.http + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["down"] == ["redis"]
        assert ready.json()["error"]["code"] == "unavailable"


def test_readyz_is_ok_when_everything_is_up(server: Server):
    assert httpx.get(server.http + "/readyz").json() == {"status": "ready"}


async def test_two_nodes_share_postgres_and_redis(workdir):
    """A visitor on one node and an agent on another talk live. An admin on
    the first node disabling the agent closes her socket on the second, and the
    conversation is offered again."""
    url = redis_url()
    with scratch_postgres() as database:
        a_node = Server(workdir, database, SWITCHBOARD_REDIS_URL=url)
        a_node.add_user("nina", PASSWORD)
        a_node.add_user("root", PASSWORD, "admin")
        a_node.add_user("omar", PASSWORD)
        with a_node, Server(workdir, database, SWITCHBOARD_REDIS_URL=url) as b_node:
            nina = token(b_node.http, "nina", PASSWORD)
            session = new_session(a_node.http)
            cid = session["conversation_id"]
            v, _ = await visitor(a_node.ws, session["visitor_token"])
            a, welcome = await agent(b_node.ws, nina)
            assert (
                httpx.post(
                    b_node.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(nina)
                ).status_code
                == 200
            )
            await recv_until(a, "assigned")
            await recv_until(v, "status", status="assigned")
            await send(v, type="message", client_msg_id=msg_id(), text="from node A")
            assert (await recv_until(a, "message", conversation_id=cid))["text"] == "from node A"
            await send(
                a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="from node B"
            )
            assert (await recv_until(v, "message"))["text"] == "from node B"

            disabled = httpx.patch(
                a_node.http + f"/api/v1/users/{welcome['agent_id']}",
                json={"disabled": True},
                headers=bearer(token(a_node.http, "root", PASSWORD)),
            )
            assert disabled.status_code == 200, disabled.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await recv(a)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            await recv_until(v, "status", status="queued")
            o, _ = await agent(a_node.ws, token(a_node.http, "omar", PASSWORD))
            assert (await recv_until(o, "offer", timeout=5))["conversation_id"] == cid
            await asyncio.gather(v.close(), o.close())


def test_users_add_works_while_the_server_runs(server: Server):
    name = f"late-{server.port}"
    result = server.cli(
        "users", "add", name, "--role", "supervisor", "--password-stdin", stdin="a fine password\n"
    )
    assert result.returncode == 0, result.stderr
    sup = token(server.http, name, "a fine password")
    assert httpx.get(server.http + "/api/v1/conversations", headers=bearer(sup)).status_code == 200
    again = server.cli("users", "add", name, "--password-stdin", stdin="a fine password\n")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_check_config_names_file_key_and_expectation(server: Server, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(
        'port = 9000\nallowed_origins = ["https://shop.example"]\n[limits]\nmax_text_chars = 2000\n'
    )
    ok = server.cli("check-config", str(good))
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('port = "eighty"\n[limits]\nmax_text_chars = 0\nfrobnicate = true\n')
    result = server.cli("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: key 'port'" in result.stderr and "valid integer" in result.stderr
    assert "key 'limits.max_text_chars'" in result.stderr and "greater than" in result.stderr
    assert "key 'limits.frobnicate': unknown setting" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    result = server.cli("check-config", str(broken))
    assert result.returncode == 2 and "not valid TOML" in result.stderr
