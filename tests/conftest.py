"""Shared fixtures: a running gateway per backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Server
from tests.support.services import scratch_postgres

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "switchboard.sqlite3"
        yield f"sqlite:///{path}"
    else:
        with scratch_postgres() as url:
            yield url


@pytest.fixture(scope="session")
def server(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway with an agent (alice, bob), a supervisor (sam) and an admin (ada)."""
    workdir = tmp_path_factory.mktemp("server")
    srv = Server(workdir, backend_url)
    for name, role in (
        ("alice", "agent"),
        ("bob", "agent"),
        ("sam", "supervisor"),
        ("ada", "admin"),
    ):
        srv.add_user(name, PASSWORD, role)
    with srv:
        yield srv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
