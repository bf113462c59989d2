"""The store, against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conversations import (
    AppendRequest,
    ConversationClosed,
    ConversationNotFound,
    ConversationStatus,
    IllegalTransition,
    Store,
    UserExists,
    engine,
)
from conversations import store as store_module
from conversations.errors import AlreadyAssigned, StaleFence, StoreError
from conversations.models import AppendResult
from conversations.writer import MessageWriter, WriterClosed
from tests.support.services import scratch_postgres


@pytest.fixture(scope="module")
async def store(backend_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(backend_url, sqlite_synchronous="NORMAL")
    yield opened
    await opened.close()


async def conversation(store: Store, email: str | None = None) -> str:
    customer = await store.find_or_create_customer(
        [("email", email)] if email else [], name="Tess", email=email
    )
    created = await store.create_conversation(channel="webchat", customer_id=customer.id)
    return created.id


def req(cid: str, text: str, client_msg_id: str | None = None, **kw: object) -> AppendRequest:
    return AppendRequest(
        cid, "customer", "cu_x", "Tess", text, "webchat", client_msg_id=client_msg_id, **kw
    )  # type: ignore[arg-type]


async def test_migrations_are_idempotent(store: Store, backend_url: str):
    again = await Store.open(backend_url)  # runs `upgrade head` a second time
    await again.ping()
    await again.close()


async def test_seq_counts_up_per_conversation(store: Store):
    a, b = await conversation(store), await conversation(store)
    results = await store.append_messages(
        [req(a, "a1"), req(b, "b1"), req(a, "a2"), req(a, "a3"), req(b, "b2")]
    )
    assert [(r.message.conversation_id, r.message.seq) for r in results] == [
        (a, 1),
        (b, 1),
        (a, 2),
        (a, 3),
        (b, 2),
    ]
    assert [m.text for m in await store.messages_after(a, 1)] == ["a2", "a3"]
    assert (await store.get_conversation(a)).last_seq == 3


async def test_duplicate_client_msg_id_returns_the_stored_message(store: Store):
    cid = await conversation(store)
    [first] = await store.append_messages([req(cid, "hello", "k1")])
    # Repeated in a later batch and twice inside one batch.
    again = await store.append_messages(
        [req(cid, "hello", "k1"), req(cid, "new", "k2"), req(cid, "new", "k2")]
    )
    assert again[0].duplicate and again[0].message.id == first.message.id
    assert not again[1].duplicate and again[2].duplicate
    assert again[1].message.id == again[2].message.id
    assert [m.seq for m in await store.messages_after(cid)] == [1, 2]


async def test_rows_written_in_a_batch_read_back_the_same_everywhere(store: Store):
    """Batches bypass Core; what they write (times, JSON) must read back equal
    through Core and through the batch's own duplicate lookup."""
    cid = await conversation(store)
    attributes = {"attachments": [{"content_type": "image/png", "size": 3}], "n": 1}
    [first] = await store.append_messages([req(cid, "pic", "k9", attributes=attributes)])
    [stored] = await store.messages_after(cid)
    [again] = await store.append_messages([req(cid, "pic", "k9", attributes=attributes)])
    for message in (stored, again.message):
        assert message.created_at == first.message.created_at
        assert message.attributes == attributes
        assert message.to_wire() == first.message.to_wire()


async def test_sqlite_wal_is_checkpointed_off_the_write_path(tmp_path: Path):
    path = tmp_path / "wal.sqlite3"
    own = await Store.open(f"sqlite:///{path}")
    try:
        cid = await conversation(own)
        await own.append_messages([req(cid, f"m{i}") for i in range(50)])

        def in_main_file() -> int:
            # immutable=1 ignores the WAL: only checkpointed rows are seen.
            with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as db:
                return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])

        seen = 0
        for _ in range(50):
            await asyncio.sleep(0.1)
            with contextlib.suppress(sqlite3.DatabaseError):
                seen = in_main_file()
            if seen == 50:
                break
        assert seen == 50
        async with own.engines.write.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    finally:
        await own.close()


def drop_connections(url: str) -> None:
    """What a PostgreSQL restart or failover does to every open connection
    (and waits until each server process has ended, as a restart has)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1


async def test_writer_survives_a_database_restart():
    """The writer holds its connection; when PostgreSQL drops it (a restart,
    a failover), the next batch reconnects instead of failing its senders."""
    with scratch_postgres() as url:
        own = await Store.open(url)
        try:
            cid = await conversation(own)
            await own.append_messages([req(cid, "before")])
            drop_connections(url)
            [after] = await own.append_messages([req(cid, "after")])
            assert after.message.seq == 2
        finally:
            await own.close()


async def test_reads_survive_a_database_restart():
    """A pooled read connection found dead is replaced and the read run again
    (reads are not pinged before use: that was a round trip per read)."""
    with scratch_postgres() as url:
        own = await Store.open(url)
        try:
            cid = await conversation(own)
            assert (await own.get_conversation(cid)).id == cid
            drop_connections(url)
            assert (await own.get_conversation(cid)).id == cid
        finally:
            await own.close()


async def test_same_client_msg_id_from_different_senders_is_two_messages(store: Store):
    cid = await conversation(store)
    customer = req(cid, "from customer", "same")
    agent = AppendRequest(
        cid, "agent", "u_agent", "Al", "from agent", "webchat", client_msg_id="same"
    )
    results = await store.append_messages([customer, agent])
    assert [r.duplicate for r in results] == [False, False]


async def test_external_id_is_idempotent_per_channel(store: Store):
    cid = await conversation(store)
    sms = AppendRequest(cid, "customer", None, None, "hi", "sms", external_id="SM123")
    [first] = await store.append_messages([sms])
    [second] = await store.append_messages([sms])
    assert second.duplicate and second.message.id == first.message.id
    found = await store.message_by_external_id("sms", "SM123")
    assert found is not None and found.id == first.message.id


async def test_bad_requests_fail_alone_not_the_batch(store: Store):
    cid, closed = await conversation(store), await conversation(store)
    await store.change_status(closed, ConversationStatus.CLOSED, actor=None)
    results = await store.append_messages(
        [req("c_missing", "x"), req(closed, "x"), req(cid, "kept")]
    )
    assert isinstance(results[0], ConversationNotFound)
    assert isinstance(results[1], ConversationClosed)
    assert results[2].message.seq == 1  # type: ignore[union-attr]
    assert await store.messages_after(closed) == []


async def test_a_key_twice_in_a_batch_shares_the_fate_of_its_first(store: Store):
    cid, closed = await conversation(store), await conversation(store)
    [stored] = await store.append_messages([req(cid, "stored", "s1")])
    await store.change_status(closed, ConversationStatus.CLOSED, actor=None)
    results = await store.append_messages(
        [
            req(cid, "again", "s1"),
            req(closed, "x", "c1"),
            req(cid, "again", "s1"),
            req(closed, "x", "c1"),
        ]
    )
    assert [r.message.id for r in results[::2]] == [stored.message.id] * 2  # type: ignore[union-attr]
    assert all(isinstance(r, AppendResult) and r.duplicate for r in results[::2])
    assert all(isinstance(r, ConversationClosed) for r in results[1::2])
    assert (await store.get_conversation(cid)).last_seq == 1


async def test_two_writers_on_one_conversation_number_it_without_gaps():
    """Two nodes' writers (two stores on one database) append to the same
    conversations at once, half of it under the same keys: each key is
    stored once, and each conversation's ``seq`` runs 1, 2, 3 ... without
    a gap or a repeat."""
    with scratch_postgres() as url:  # one SQLite file has one writer
        await _two_writers(url)


async def _two_writers(url: str) -> None:
    first = await Store.open(url)
    second = await Store.open(url)
    try:
        cids = [await conversation(first) for _ in range(3)]
        writers = [MessageWriter(s, lambda _: None) for s in (first, second)]
        requests = [
            [req(cids[i % 3], f"{w}-{i}", f"k{i}" if i % 2 else f"{w}-{i}") for i in range(300)]
            for w in range(2)
        ]
        results = await asyncio.gather(
            *(writers[w].append(r) for w in range(2) for r in requests[w])
        )
        for writer in writers:
            await writer.close()
        stored = [r for r in results if not r.duplicate]
        assert len(stored) == 450 and sum(r.duplicate for r in results) == 150
        for cid in cids:
            messages = await first.messages_after(cid)
            assert [m.seq for m in messages] == list(range(1, 151))
            assert len({m.client_msg_id for m in messages}) == 150
    finally:
        await first.close()
        await second.close()


async def test_group_commit_under_concurrency_keeps_every_message_once(store: Store):
    cids = [await conversation(store) for _ in range(5)]
    committed = []
    writer = MessageWriter(store, committed.extend)
    requests = [req(cids[i % 5], f"m{i}", f"g{i}") for i in range(500)]
    results = await asyncio.gather(
        *(writer.append(r) for r in requests), *(writer.append(r) for r in requests[:100])
    )
    await writer.close()
    assert sum(r.duplicate for r in results) == 100
    assert len(committed) == 500
    for cid in cids:
        seqs = [m.seq for m in await store.messages_after(cid)]
        assert seqs == list(range(1, 101))
    # Per-conversation order is submission order.
    texts = [m.text for m in await store.messages_after(cids[0])]
    assert texts == [f"m{i}" for i in range(0, 500, 5)]


async def test_a_failed_batch_acknowledges_nobody_and_the_writer_goes_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    cid = await conversation(store)
    committed: list[AppendResult] = []
    writer = MessageWriter(store, committed.extend)
    write = store.append_on_writer_thread
    calls = 0

    def fails_once(requests: list[AppendRequest]) -> list[AppendResult | StoreError]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk I/O error")
        return write(requests)

    monkeypatch.setattr(store, "append_on_writer_thread", fails_once)
    with pytest.raises(StoreError, match="storage unavailable"):
        await writer.append(req(cid, "first try", "f1"))
    assert committed == [] and await store.messages_after(cid) == []
    again = await writer.append(req(cid, "first try", "f1"))  # the client sends it again
    assert (again.message.seq, again.duplicate) == (1, False)
    assert [r.message.id for r in committed] == [again.message.id]
    await writer.close()
    with pytest.raises(WriterClosed):
        writer.submit(req(cid, "too late"))


async def test_the_wal_starts_over_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A checkpoint that only ever runs PASSIVE never catches up with a writer
    that never pauses, so the WAL never starts over and grows without end."""
    monkeypatch.setattr(engine, "WAL_RESTART_FRAMES", 256)  # 1 MiB
    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY_S", 0.1)
    store = await Store.open(f"sqlite:///{tmp_path}/wal.sqlite3")
    cids = [await conversation(store) for _ in range(20)]
    writer = MessageWriter(store, lambda results: None)
    wal = tmp_path / "wal.sqlite3-wal"

    def restarts() -> int:
        """The WAL header's checkpoint sequence number: one up per restart."""
        return int.from_bytes(wal.read_bytes()[12:16], "big")

    async def steady(seconds: float) -> None:
        loop, sent = asyncio.get_running_loop(), 0
        pending: set[asyncio.Future[AppendResult]] = set()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            # Keep a few batches queued, so that the writer never pauses.
            pending |= {writer.submit(req(c, "steady " * 40, f"s{sent}-{c}")) for c in cids}
            sent += 1
            if len(pending) > 4 * len(cids):
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)

    await steady(0.2)
    before = restarts()
    await steady(2.0)
    assert restarts() - before >= 3
    await writer.close()
    await store.close()


async def test_assign_is_atomic(store: Store):
    cid = await conversation(store)
    outcomes = await asyncio.gather(
        *(
            store.change_status(cid, ConversationStatus.ASSIGNED, actor=a, agent_id=a)
            for a in ("u_a", "u_b", "u_c")
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, AlreadyAssigned) for o in outcomes if isinstance(o, Exception))
    assert (await store.get_conversation(cid)).assigned_agent_id == winners[0].assigned_agent_id


async def test_lifecycle_is_enforced_and_recorded(store: Store):
    cid = await conversation(store)
    await store.change_status(cid, ConversationStatus.ASSIGNED, actor="u_a", agent_id="u_a")
    moved = await store.change_status(
        cid, ConversationStatus.QUEUED, actor="u_a", queue="billing", data={"note": "needs refund"}
    )
    assert (moved.status, moved.queue, moved.assigned_agent_id) == ("queued", "billing", None)
    await store.change_status(cid, ConversationStatus.CLOSED, actor="u_a")
    with pytest.raises(IllegalTransition):
        await store.change_status(cid, ConversationStatus.QUEUED, actor="u_a")
    events = await store.timeline(cid)
    assert [e.type for e in events] == ["created", "assigned", "queued", "closed"]
    assert events[2].data == {"note": "needs refund", "queue": "billing"}


async def test_identities_map_to_one_customer(store: Store):
    first = await store.find_or_create_customer([("email", "one@example.com")], name="One")
    same = await store.find_or_create_customer(
        [("phone", "+4915112345678"), ("email", "one@example.com")], phone="+4915112345678"
    )
    by_phone = await store.find_or_create_customer([("phone", "+4915112345678")])
    assert first.id == same.id == by_phone.id
    assert by_phone.phone == "+4915112345678" and by_phone.name == "One"


async def test_users_are_unique_by_name(store: Store):
    await store.create_user(username="uniq", role="agent", password_hash="$argon2id$x")
    with pytest.raises(UserExists):
        await store.create_user(username="uniq", role="agent", password_hash="$argon2id$x")
    updated = await store.update_user(
        (await store.user_by_name("uniq")).id, disabled=True, skills={"billing": 4}
    )
    assert updated is not None and updated.disabled and updated.skills == {"billing": 4}


async def test_secret_is_created_once(store: Store):
    assert await store.secret("test-secret") == await store.secret("test-secret")


async def test_a_stale_fencing_token_is_refused_in_the_same_transaction(store: Store):
    # Routers racing on first use create the fence row once, without an error.
    tokens = (7, 7, 8)
    found = await asyncio.gather(*map(store.raise_fence, tokens))
    assert sum(f < t for f, t in zip(found, tokens, strict=True)) in (1, 2)
    assert sum(f < 7 for f in found[:2]) <= 1  # token 7 admitted once at most
    assert await store.raise_fence(7) == 8  # a later router got there first
    assert await store.raise_fence(8) == 8  # granted twice: refused too
    cid = await conversation(store)
    with pytest.raises(StaleFence) as stale:
        await store.change_status(
            cid, ConversationStatus.ASSIGNED, actor="router", agent_id="u_old", fence=7
        )
    assert (stale.value.token, stale.value.current) == (7, 8)
    assert (await store.get_conversation(cid)).status == "queued"
    taken = await store.change_status(
        cid, ConversationStatus.ASSIGNED, actor="router", agent_id="u_new", fence=8
    )
    assert taken.assigned_agent_id == "u_new"
    assert await store.raise_fence(9) == 8
    with pytest.raises(StaleFence):
        await store.change_status(cid, ConversationStatus.QUEUED, actor="router", fence=8)


async def test_work_beside_rides_along_with_the_next_message_batch(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    """``write_beside`` work waiting when a message batch starts goes into the
    batch's transaction; one that fails there fails only itself: the batch's
    messages are stored all the same."""
    cid = await conversation(store)
    mark = "?" if store.dialect == "sqlite" else "%s"
    committed: list[AppendResult] = []
    writer = MessageWriter(store, committed.extend)
    carried: list[int] = []
    append_batch = store_module.append_batch

    def counting(conn, requests, now, read, beside=()):  # type: ignore[no-untyped-def]
        carried.append(len(beside))
        return append_batch(conn, requests, now, read, beside)

    monkeypatch.setattr(store_module, "append_batch", counting)

    def seen(cursor: Any) -> int:
        cursor.execute(f"SELECT count(*) FROM messages WHERE conversation_id = {mark}", [cid])
        return int(cursor.fetchone()[0])

    def broken(cursor: Any) -> None:
        raise ValueError("not today")

    for work, text in ((seen, "one"), (broken, "two")):
        gate = threading.Event()
        held = store.on_writer_thread(gate.wait, 10)  # the batch and the work queue up
        sent = writer.submit(req(cid, text))
        beside = store.write_beside(work)
        gate.set()
        await held
        assert (await sent).message.text == text
        if work is seen:
            assert await beside == 1  # after the message, in its transaction
        else:
            with pytest.raises(ValueError, match="not today"):
                await beside
        await writer.flush()
    assert [m.text for m in await store.messages_after(cid)] == ["one", "two"]
    assert [r.message.text for r in committed] == ["one", "two"]
    assert carried[0] == 1  # the first work went with the message batch
    await writer.close()


async def test_work_beside_a_message_batch_reads_its_own_row_counts(store: Store):
    """On PostgreSQL a message batch's statements are pipelined, so a row
    count is known only once the server has answered: the batch waits for
    that before the work riding along runs (the SLA store's compare-and-set
    reads its row counts)."""
    cid = await conversation(store)
    mark = "?" if store.dialect == "sqlite" else "%s"
    writer = MessageWriter(store, lambda _: None)

    def touch(cursor: Any) -> int:
        cursor.execute(f"UPDATE conversations SET priority = priority WHERE id = {mark}", [cid])
        return int(cursor.rowcount)

    gate = threading.Event()
    held = store.on_writer_thread(gate.wait, 10)
    sent = writer.submit(req(cid, "hello"))
    beside = store.write_beside(touch)
    gate.set()
    await held
    await sent
    assert await beside == 1
    await writer.close()


async def test_work_beside_goes_alone_when_no_message_comes(store: Store):
    cid = await conversation(store)
    mark = "?" if store.dialect == "sqlite" else "%s"

    def count(cursor: Any) -> int:
        cursor.execute(f"SELECT count(*) FROM conversations WHERE id = {mark}", [cid])
        return int(cursor.fetchone()[0])

    assert await asyncio.wait_for(store.write_beside(count), 10) == 1
