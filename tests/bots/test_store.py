"""Bot sessions in the database (SQLite and PostgreSQL): held, ended once, counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.handoff import IllegalSessionTransition, SessionState
from bots.store import CLOSED_BY_BOT, BotStore
from conversations import Store
from tests.support.services import scratch_postgres

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("bot-store") / "db.sqlite3"
        opened = await Store.open(f"sqlite:///{path}", sqlite_synchronous="NORMAL")
        yield opened
        await opened.close()
    else:
        with scratch_postgres() as url:
            opened = await Store.open(url)
            yield opened
            await opened.close()


async def conversation(store: Store) -> str:
    customer = await store.find_or_create_customer([], name="Tess")
    created = await store.create_conversation(channel="webchat", customer_id=customer.id)
    return created.id


async def test_a_session_is_held_until_it_ends_once(store: Store):
    bots = BotStore(store.engines)
    cid = await conversation(store)
    await bots.start(cid, "helper", "u_bot", T0)
    assert [s.conversation_id for s in await bots.held()] == [cid]
    handoff = {"from": "helper", "reason": "timeout", "summary": "s", "context": {"k": [1]}}
    assert await bots.end(cid, SessionState.HANDED_OFF, T0, reason="timeout", handoff=handoff)
    assert not await bots.end(cid, SessionState.CLOSED, T0, reason=CLOSED_BY_BOT)
    session = await bots.get(cid)
    assert session is not None
    assert (session.state, session.reason, session.handoff) == (
        SessionState.HANDED_OFF,
        "timeout",
        handoff,
    )
    assert session.started_at == T0 and session.ended_at == T0
    assert cid not in [s.conversation_id for s in await bots.held()]
    with pytest.raises(IllegalSessionTransition):
        await bots.end(cid, SessionState.HELD, T0)
    assert await bots.get("c_nobody") is None


async def test_report_counts_containment_and_reasons_in_the_window(store: Store):
    bots = BotStore(store.engines)
    day = T0 + timedelta(days=3)
    outcomes = [
        (SessionState.CLOSED, CLOSED_BY_BOT),
        (SessionState.CLOSED, CLOSED_BY_BOT),
        (SessionState.CLOSED, "customer"),
        (SessionState.HANDED_OFF, "customer_request"),
        (SessionState.HANDED_OFF, "bot"),
        (SessionState.HELD, None),
    ]
    for state, reason in outcomes:
        cid = await conversation(store)
        await bots.start(cid, "helper", "u_bot", day)
        if state is not SessionState.HELD:
            await bots.end(cid, state, day, reason=reason)
    report = await bots.report(day - timedelta(hours=1), day + timedelta(hours=1))
    assert (report.taken, report.closed_by_bot, report.closed_otherwise, report.handed_off) == (
        6,
        2,
        1,
        2,
    )
    assert report.containment == pytest.approx(2 / 6)
    assert report.reasons == {"customer_request": 1, "bot": 1}
    assert report.held_now.get("helper", 0) >= 1
    empty = await bots.report(day + timedelta(days=1), None)
    assert (empty.taken, empty.containment) == (0, None)
