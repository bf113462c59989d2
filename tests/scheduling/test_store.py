"""The scheduling store on SQLite and PostgreSQL: booking is atomic in the
database itself (no pre-check in front), also between two processes' worth
of engines, and cancelling frees the time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conversations import Store
from scheduling import Requirement, Resource, Service, SlotTaken
from scheduling.store import SchedulingStore
from tests.support.services import scratch_postgres

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
START = datetime(2030, 1, 7, 9, tzinfo=UTC)
SERVICE = Service(
    "svc_1",
    "visit",
    timedelta(hours=1),
    (Requirement("person"),),
    buffer_after=timedelta(minutes=15),
)


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SchedulingStore, SchedulingStore]]:
    """Two independent stores (engines, pools) on one database: two nodes."""
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path}/db.sqlite3"])
        url = next(urls)
        a, b = await Store.open(url), await Store.open(url)
        try:
            yield SchedulingStore(a.engines), SchedulingStore(b.engines)
        finally:
            await a.close()
            await b.close()
    else:
        with scratch_postgres() as url:
            a, b = await Store.open(url), await Store.open(url)
            try:
                yield SchedulingStore(a.engines), SchedulingStore(b.engines)
            finally:
                await a.close()
                await b.close()


async def _setup(store: SchedulingStore) -> None:
    for rid in ("res_a", "res_b"):
        await store.create_resource(Resource(rid, rid, "person"), NOW)
    await store.create_service(SERVICE, NOW)


async def test_racing_bookings_of_one_resource_one_wins(
    stores: tuple[SchedulingStore, SchedulingStore],
) -> None:
    one, two = stores
    await _setup(one)

    async def book(i: int) -> str:
        store = (one, two)[i % 2]
        # Every one overlaps every other: starts 0, 10, 20 ... 50 minutes in.
        try:
            await store.book(
                service=SERVICE,
                start=START + timedelta(minutes=10 * (i % 6)),
                resource_ids=["res_a"] if i % 3 else ["res_a", "res_b"],
                customer_id=None,
                case_id=None,
                conversation_id=None,
                timezone=None,
                created_by=None,
                now=NOW,
            )
        except SlotTaken:
            return "taken"
        return "booked"

    results = await asyncio.gather(*(book(i) for i in range(16)))
    assert sorted(results) == ["booked"] + ["taken"] * 15
    listed = await one.list_appointments(resource_id="res_a")
    assert len(listed) == 1
    # Bookings that lost left no appointment behind.
    assert len(await one.list_appointments()) == 1


async def test_cancel_frees_and_buffers_block(
    stores: tuple[SchedulingStore, SchedulingStore],
) -> None:
    store, _ = stores
    await _setup(store)
    args = {
        "service": SERVICE,
        "customer_id": None,
        "case_id": None,
        "conversation_id": None,
        "timezone": None,
        "created_by": None,
        "now": NOW,
    }
    first = await store.book(start=START, resource_ids=["res_a"], **args)  # type: ignore[arg-type]
    with pytest.raises(SlotTaken):  # 10:00 falls in the 15 minutes after
        await store.book(start=START + timedelta(hours=1), resource_ids=["res_a"], **args)  # type: ignore[arg-type]
    later = await store.book(
        start=START + timedelta(hours=1, minutes=15),
        resource_ids=["res_a"],
        **args,  # type: ignore[arg-type]
    )
    assert later.status == "scheduled"
    spans = await store.bookings_between(START, START + timedelta(hours=3), ["res_a"])
    assert len(spans) == 2
    cancelled = await store.change_status(first.id, "cancelled", by=None, now=NOW)
    assert cancelled is not None and cancelled.status == "cancelled"
    spans = await store.bookings_between(START, START + timedelta(hours=3), ["res_a"])
    assert len(spans) == 1
    again = await store.book(start=START, resource_ids=["res_a"], **args)  # type: ignore[arg-type]
    assert again.id != first.id
