"""Stored script progress and context variables, on SQLite and PostgreSQL
(the migration creates the table; claims hold under concurrency)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conversations import Store
from guidance.store import GuidanceStore
from tests.support.services import scratch_postgres


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, GuidanceStore]]:
    async def opened(url: str) -> AsyncIterator[tuple[Store, GuidanceStore]]:
        store = await Store.open(url, sqlite_synchronous="NORMAL")
        try:
            yield store, GuidanceStore(store.engines)
        finally:
            await store.close()

    if request.param == "sqlite":
        async for pair in opened(f"sqlite:///{tmp_path}/db.sqlite3"):
            yield pair
    else:
        with scratch_postgres() as url:
            async for pair in opened(url):
                yield pair


async def new_conversation(store: Store, **context: object) -> str:
    customer = await store.find_or_create_customer(name="Vera")
    conversation = await store.create_conversation(
        channel="webchat", customer_id=customer.id, context=dict(context)
    )
    return conversation.id


async def test_ticks_are_stored_per_script_and_step(stores: tuple[Store, GuidanceStore]) -> None:
    store, guidance = stores
    cid = await new_conversation(store)
    assert await guidance.progress(cid, "web") == {}
    assert await guidance.mark(cid, "web", 2, "f2", done=True, by="u_1", by_name="Alice")
    assert await guidance.mark(cid, "other", 0, "f0", done=True, by="u_1", by_name="Alice")
    (step,) = (await guidance.progress(cid, "web")).values()
    assert (step.step, step.fingerprint, step.done, step.done_by_name) == (2, "f2", True, "Alice")
    assert step.done_at is not None and step.done_at.tzinfo is not None
    assert await guidance.mark(cid, "web", 2, "f2", done=False, by="u_2", by_name="Bob")
    step = (await guidance.progress(cid, "web"))[2]
    assert (step.done, step.done_by, step.done_at) == (False, None, None)


async def test_a_claim_is_won_once_released_on_failure_and_ignores_stale_ticks(
    stores: tuple[Store, GuidanceStore],
) -> None:
    store, guidance = stores
    cid = await new_conversation(store)

    async def claim() -> bool:
        return await guidance.mark(
            cid, "web", 1, "f1", done=True, by="u_1", by_name="A", claim=True
        )

    wins = await asyncio.gather(*(claim() for _ in range(5)))
    assert sorted(wins) == [False, False, False, False, True]
    await guidance.finish(cid, "web", 1, {"results": [{"kind": "send"}]})
    assert (await guidance.progress(cid, "web"))[1].result == {"results": [{"kind": "send"}]}
    assert not await claim()

    await guidance.release(cid, "web", 1)
    assert await guidance.progress(cid, "web") == {}
    assert await claim()

    # The step's content changed in the config: the old tick does not block it.
    assert await guidance.mark(cid, "web", 1, "new", done=True, by="u_2", by_name="B", claim=True)
    assert (await guidance.progress(cid, "web"))[1].fingerprint == "new"


async def test_context_variables_are_set_one_at_a_time(stores: tuple[Store, GuidanceStore]) -> None:
    store, guidance = stores
    cid = await new_conversation(store, order="A-1")
    await asyncio.gather(
        guidance.set_context(cid, "verified", True, actor="u_1"),
        guidance.set_context(cid, "topic", "billing", actor="u_1"),
    )
    conversation = await store.get_conversation(cid)
    assert conversation.context == {"order": "A-1", "verified": True, "topic": "billing"}
    events = [e for e in await store.timeline(cid) if e.type == "context_set"]
    assert sorted(e.data["name"] for e in events) == ["topic", "verified"]
