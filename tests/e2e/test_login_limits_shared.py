"""Sign-in limits shared by the nodes of a cluster (PostgreSQL and Redis):
failures spread over two nodes count against one budget per username and
per client address, so adding nodes does not multiply an attacker's
guesses.

Usernames and addresses are new on every run: the counts live in Redis,
which outlives the test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.server import Server
from tests.support.services import redis_url, scratch_postgres

CONFIG = """
[security]
login_free_failures = 3
login_backoff = "30s"
login_backoff_max = "60s"
login_address_failures = 4
login_address_window = "10m"
"""
RUN = uuid.uuid4().hex[:8]
ANN, BEA = f"ann-{RUN}", f"bea-{RUN}"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    workdir: Path = tmp_path_factory.mktemp("shared-logins")
    seeds = [{"username": n, "password_env": "NODE_PASSWORD"} for n in (ANN, BEA)]
    env = {
        "SWITCHBOARD_USERS": json.dumps(seeds),
        "NODE_PASSWORD": PASSWORD,
        "SWITCHBOARD_REDIS_URL": redis_url(),
    }
    with scratch_postgres() as database:
        pair = [Server(workdir, database, config=CONFIG, **env) for _ in range(2)]
        try:
            with ThreadPoolExecutor(2) as pool:
                for started in [pool.submit(node.start, 90.0) for node in pair]:
                    started.result()
            yield pair[0], pair[1]
        finally:
            for node in pair:
                if node.process is not None:
                    node.stop()


def address() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def sign_in(node: Server, username: str, password: str, source: str) -> httpx.Response:
    return httpx.post(
        node.http + "/api/v1/auth/token",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": source},
        timeout=30,
    )


def test_failures_for_one_username_on_two_nodes_add_up(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    for node in (a, b, a):
        assert sign_in(node, ANN, "wrong", address()).status_code == 401
    # b saw one failure of the three; the shared count makes it wait anyway.
    refused = sign_in(b, ANN, PASSWORD, address())
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "login_throttled" and "this username" in error["message"]
    assert int(refused.headers["Retry-After"]) == error["retry_after"] >= 1
    assert sign_in(a, ANN, PASSWORD, address()).status_code == 429


def test_one_address_spraying_usernames_over_two_nodes_is_limited(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    source = address()
    for n, node in enumerate((a, b, a, b)):
        assert sign_in(node, f"spray-{RUN}-{n}", "Winter2026!", source).status_code == 401
    for node in (a, b):
        refused = sign_in(node, BEA, PASSWORD, source)
        assert refused.status_code == 429, refused.text
        assert "this address" in refused.json()["error"]["message"]
    assert sign_in(b, BEA, PASSWORD, address()).status_code == 200


def test_a_success_on_one_node_resets_the_username_on_the_other(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    name = f"cara-{RUN}"  # no account: counted and answered like any other name
    for _ in range(2):
        assert sign_in(a, name, "wrong", address()).status_code == 401
    assert sign_in(b, BEA, PASSWORD, address()).status_code == 200
    for _ in range(2):
        assert sign_in(a, BEA, "wrong", address()).status_code == 401
    assert sign_in(b, BEA, PASSWORD, address()).status_code == 200  # 2 < 3: still free
    for node in (a, b, a):
        assert sign_in(node, BEA, "wrong", address()).status_code == 401
    assert sign_in(b, BEA, "wrong", address()).status_code == 429
    assert sign_in(a, name, "wrong", address()).status_code == 401  # its third failure
    assert sign_in(b, name, "wrong", address()).status_code == 429
