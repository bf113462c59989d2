"""Sign-in abuse against the running server: per-account backoff, a
per-address limit, and no way to tell existing accounts from others by the
answer or its timing.

Each test signs in from its own client address (``X-Forwarded-For``, which
the server trusts from 127.0.0.1 as it would from a local reverse proxy), so
the per-address limits of one test do not spill into the next.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.channels import seeded_users
from tests.support.server import Server

CONFIG = """
[security]
login_free_failures = 3
login_backoff = "3s"
login_backoff_max = "12s"
login_address_failures = 6
login_address_window = "1m"
"""
_addresses = (f"203.0.113.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("logins")
    with Server(workdir, f"sqlite:///{workdir}/db.sqlite3", config=CONFIG, **seeded_users()) as srv:
        yield srv


def sign_in(server: Server, username: str, password: str, address: str) -> httpx.Response:
    return httpx.post(
        server.http + "/api/v1/auth/token",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def test_failures_for_one_account_make_every_next_try_wait(server: Server) -> None:
    address = next(_addresses)
    for _ in range(3):
        assert sign_in(server, "alice", "not it", address).status_code == 401
    # Even the right password, from elsewhere, waits: guessing must not go on.
    refused = sign_in(server, "alice", PASSWORD, next(_addresses))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "login_throttled"
    assert "try again in" in error["message"]
    assert int(refused.headers["Retry-After"]) == error["retry_after"] >= 1
    time.sleep(int(refused.headers["Retry-After"]))  # the wait itself is what is tested
    assert sign_in(server, "alice", PASSWORD, address).status_code == 200
    # A success resets the count: one failure is just a 401 again.
    assert sign_in(server, "alice", "not it", address).status_code == 401


def test_the_wait_doubles_with_each_further_failure(server: Server) -> None:
    address = next(_addresses)
    for _ in range(3):
        sign_in(server, "bob", "nope", address)
    first = sign_in(server, "bob", "nope", address)
    assert first.status_code == 429 and first.headers["Retry-After"] in ("2", "3")
    time.sleep(int(first.headers["Retry-After"]))
    assert sign_in(server, "bob", "nope", address).status_code == 401
    second = sign_in(server, "bob", "nope", address)
    assert second.status_code == 429 and second.headers["Retry-After"] in ("5", "6")


def test_an_unknown_username_is_answered_exactly_like_a_known_one(server: Server) -> None:
    address = next(_addresses)
    known = [sign_in(server, "sam", "wrong", address) for _ in range(4)]
    address = next(_addresses)
    unknown = [sign_in(server, "no-such-user", "wrong", address) for _ in range(4)]
    assert (
        [r.status_code for r in known]
        == [r.status_code for r in unknown]
        == [
            401,
            401,
            401,
            429,
        ]
    )
    assert known[0].json() == unknown[0].json()
    assert known[3].json()["error"]["message"] == unknown[3].json()["error"]["message"]


def test_one_address_trying_many_accounts_is_limited(server: Server) -> None:
    address = next(_addresses)
    for i in range(6):
        assert sign_in(server, f"spray{i}", "Winter2026!", address).status_code == 401
    refused = sign_in(server, "alice", PASSWORD, address)
    assert refused.status_code == 429
    assert "this address" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Another address is not held back by it.
    assert sign_in(server, "alice", PASSWORD, next(_addresses)).status_code == 200


def test_a_missing_account_costs_as_long_as_a_wrong_password(server: Server) -> None:
    """The password hash is checked even when there is no account; else the
    answer comes an argon2 verification sooner and tells who exists."""
    server.add_user("timer", PASSWORD)

    def median_time(username: str) -> float:
        times = []
        for n in range(3):  # within the free failures: every answer is a 401
            started = time.perf_counter()
            reply = sign_in(server, username, f"wrong-{n}", next(_addresses))
            times.append(time.perf_counter() - started)
            assert reply.status_code == 401
        return statistics.median(times)

    known, missing = median_time("timer"), median_time("ghost")
    assert missing > known / 3, f"wrong password {known:.3f}s, no account {missing:.3f}s"
