"""A short soak (about 30 s of load, plus start-up): three real nodes on
PostgreSQL and Redis, web chat visitors and agents reconnecting, the routing
node SIGKILLed and restarted halfway. Correctness only: nothing acknowledged
is lost and no client is shown one message twice. ``bench/soak.py`` runs the
same load longer and prints the figures; nothing here is timed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.services import redis_url, scratch_postgres
from tests.support.soak import Plan, cluster, outcome, run, stored_ids

pytestmark = pytest.mark.slow

PLAN = Plan(
    conversations=60,
    agents=10,
    seconds=24,
    think=(0.1, 0.8),
    agent_reconnect_every=10,
    down=3,
    grace=120,
)


def test_nothing_acknowledged_is_lost_and_nothing_is_shown_twice(workdir: Path) -> None:
    with scratch_postgres() as database:
        env = {"SWITCHBOARD_ROUTER_LEASE_TTL_S": "2"}
        with cluster(workdir, database, redis_url(), 3, PLAN.agents, **env) as nodes:
            lines: list[str] = []
            tally = asyncio.run(run(nodes, PLAN, lines.append))
            result = outcome(tally, stored_ids(database))
    assert any(line.startswith("SIGKILLed") for line in lines), lines
    assert any(line.startswith("restarted") for line in lines), lines
    assert result.acked > 0 and tally.finished > 0, tally.stuck
    assert result.lost == [], result.lost
    assert result.undelivered == [], result.undelivered
    assert result.duplicates == [], result.duplicates
