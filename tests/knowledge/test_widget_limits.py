"""The widget's public knowledge endpoints are rate-limited per address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import Server

CONFIG = """
[knowledge]
widget_per_second = 0.2
widget_burst = 4
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("widget-limits")
    with Server(workdir, f"sqlite:///{workdir}/db.sqlite3", config=CONFIG) as srv:
        yield srv


def test_a_flood_from_one_address_gets_429_and_search_is_not_limited(limited: Server) -> None:
    statuses = [
        httpx.get(limited.http + "/api/v1/kb/suggestions", params={"q": f"card {i}"}).status_code
        for i in range(3)
    ] + [httpx.post(limited.http + "/api/v1/kb/deflections", json={"event": "shown"}).status_code]
    assert statuses == [200, 200, 200, 200]
    refused = httpx.get(limited.http + "/api/v1/kb/suggestions", params={"q": "card"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    counted = httpx.post(limited.http + "/api/v1/kb/deflections", json={"event": "shown"})
    assert counted.status_code == 429
    assert httpx.get(limited.http + "/api/v1/kb/search", params={"q": "card"}).status_code == 200
