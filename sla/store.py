"""KPI instances in the database, beside the conversation store (``Store.engines``).

The one write that matters is ``change``: a compare-and-set on the status
the caller saw, so whichever timer (this node after a restart, or another
node) stores a warning first is the only one that announces it.

Writes are gathered for ``FLUSH_S`` and committed together, one transaction
per batch, on the message writer's thread and connection
(``Store.write_beside``), as sentiment scores are: on SQLite a transaction
from another connection would take the write lock in front of a message
batch, whose busy-wait then sleeps for milliseconds, and a connection of its
own per batch costs a connect. Each statement's own row count still answers
its compare-and-set. Reads wait for the writes already queued (``written``):
the runtime shows a change before it is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from conversations.engine import Engines
from conversations.times import as_utc
from sla.clock import OPEN, KpiInstance, KpiStatus
from sla.tables import sla_instances as t

FLUSH_S = 0.01
"""How long writes gather before they are committed together."""
_ROWS_PER_INSERT = 50
"""Rows per insert statement: 18 parameters each, under SQLite's limit."""

WriteBeside = Callable[[Callable[[Any], Any]], "asyncio.Future[Any]"]


_CHANGING = (
    "status",
    "run_started_at",
    "warning_at",
    "failure_at",
    "completed_at",
    "paused_at",
    "elapsed_seconds",
    "paused_seconds",
    "warned",
    "failed",
    "updated_at",
)
"""The columns a change writes (``_row``'s keys)."""


class _Sql:
    """The write statements in the driver's own placeholder style, with the
    columns' bind processors: a batch runs on a raw DB-API cursor, a few
    microseconds a statement instead of SQLAlchemy's hundreds, since it holds
    up the message writer's thread while it runs."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self.columns = [c.name for c in t.columns]
        self.row = f"({', '.join([self.mark] * len(self.columns))})"
        sets = ", ".join(f"{name} = {self.mark}" for name in _CHANGING)
        self.update = (
            f"UPDATE sla_instances SET {sets}"
            f" WHERE id = {self.mark} AND status = {self.mark} AND warned = {self.mark}"
        )
        self._process: dict[str, Callable[[Any], Any]] = {}
        for column in t.columns:
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._process[column.name] = process

    def _bind(self, name: str, value: Any) -> Any:
        process = self._process.get(name)
        return value if process is None or value is None else process(value)

    def inserting(self, values: dict[str, Any]) -> Write:
        return _Insert(values["id"], [self._bind(name, values[name]) for name in self.columns])

    def changing(self, before: KpiInstance, values: dict[str, Any]) -> Write:
        params = [self._bind(name, values[name]) for name in _CHANGING]
        params += [before.id, before.status.value, self._bind("warned", before.warned)]
        return _Change(params)

    def insert(self, rows: int) -> str:
        """One statement for ``rows`` new instances; it returns the ids it
        stored (a clash with a stored one is skipped, not an error)."""
        values = ", ".join([self.row] * rows)
        return (
            f"INSERT INTO sla_instances ({', '.join(self.columns)}) VALUES {values}"
            " ON CONFLICT DO NOTHING RETURNING id"
        )


@dataclass(frozen=True, slots=True)
class _Insert:
    id: str
    params: list[Any]


@dataclass(frozen=True, slots=True)
class _Change:
    params: list[Any]


Write = _Insert | _Change


def _run(sql: _Sql, cursor: Any, writes: Sequence[Write]) -> list[bool]:
    """On the writer thread, inside one transaction: the batch's inserts as
    one statement (each thread hop into the driver gives the GIL away and
    waits to win it back from the event loop), each compare-and-set on its
    own (its row count is its answer). Inserts go first: a change in the
    same batch may be to one of them."""
    inserts = [w for w in writes if isinstance(w, _Insert)]
    stored: set[str] = set()
    for n in range(0, len(inserts), _ROWS_PER_INSERT):
        chunk = inserts[n : n + _ROWS_PER_INSERT]
        cursor.execute(sql.insert(len(chunk)), [p for w in chunk for p in w.params])
        stored.update(row[0] for row in cursor.fetchall())
    results = []
    for write in writes:
        if isinstance(write, _Insert):
            results.append(write.id in stored)
        else:
            cursor.execute(sql.update, write.params)
            results.append(cursor.rowcount == 1)
    return results


def _dt(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else as_utc(moment).timestamp()


def _row(instance: KpiInstance, now: float) -> dict[str, Any]:
    return {
        "status": instance.status.value,
        "run_started_at": _dt(instance.run_started_at),
        "warning_at": _dt(instance.warning_at),
        "failure_at": _dt(instance.failure_at),
        "completed_at": _dt(instance.completed_at),
        "paused_at": _dt(instance.paused_at),
        "elapsed_seconds": instance.elapsed,
        "paused_seconds": instance.paused_seconds,
        "warned": instance.warned,
        "failed": instance.failed,
        "updated_at": _dt(now),
    }


def _instance(row: Any) -> KpiInstance:
    m = row._mapping
    started = _ts(m["started_at"])
    run_started = _ts(m["run_started_at"])
    assert started is not None and run_started is not None
    return KpiInstance(
        id=m["id"],
        subject_kind=m["subject_kind"],
        subject_id=m["subject_id"],
        sla=m["sla"],
        kpi=m["kpi"],
        calendar=m["calendar"],
        warn_after=m["warn_after_seconds"],
        fail_after=m["fail_after_seconds"],
        status=KpiStatus(m["status"]),
        started_at=started,
        run_started_at=run_started,
        warning_at=_ts(m["warning_at"]),
        failure_at=_ts(m["failure_at"]),
        completed_at=_ts(m["completed_at"]),
        paused_at=_ts(m["paused_at"]),
        elapsed=m["elapsed_seconds"],
        paused_seconds=m["paused_seconds"],
        warned=bool(m["warned"]),
        failed=bool(m["failed"]),
        generation=m["generation"],
    )


def to_wire(instance: KpiInstance) -> dict[str, Any]:
    """The protocol's ``sla`` list entry."""

    def iso(seconds: float | None) -> str | None:
        moment = _dt(seconds)
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")

    paused = instance.status is KpiStatus.PAUSED
    return {
        "sla": instance.sla,
        "kpi": instance.kpi,
        "status": instance.status.value,
        "started_at": iso(instance.started_at),
        "warning_at": None if paused else iso(instance.warning_at),
        "failure_at": None if paused else iso(instance.failure_at),
        "completed_at": iso(instance.completed_at),
    }


class SlaStore:
    """Async access to ``sla_instances``; one per process.

    Args:
        write_beside: ``Store.write_beside``: runs a batch's statements in one
            transaction on the message writer's thread and connection.
    """

    def __init__(self, engines: Engines, write_beside: WriteBeside) -> None:
        self._engines = engines
        self._write_beside = write_beside
        self._sql = _Sql(engines.batch)
        self._pending: list[tuple[Write, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: asyncio.Future[Any] | None = None

    def add(self, instance: KpiInstance, now: float) -> asyncio.Future[bool]:
        """Store a new instance; False when the subject already has this KPI
        of this policy in this generation (another node, or a repeated start)."""
        values = {
            "id": instance.id,
            "subject_kind": instance.subject_kind,
            "subject_id": instance.subject_id,
            "sla": instance.sla,
            "kpi": instance.kpi,
            "calendar": instance.calendar,
            "warn_after_seconds": instance.warn_after,
            "fail_after_seconds": instance.fail_after,
            "started_at": _dt(instance.started_at),
            "generation": instance.generation,
            **_row(instance, now),
        }
        return self._submit(self._sql.inserting(values))

    def change(self, before: KpiInstance, after: KpiInstance, now: float) -> asyncio.Future[bool]:
        """Write ``after`` if the row still has ``before``'s status (and
        warning flag); False when someone else moved it first."""
        return self._submit(self._sql.changing(before, _row(after, now)))

    # -- the batches ------------------------------------------------------------

    def _submit(self, write: Write) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((write, future))
        if self._timer is None and self._in_flight is None:
            self._timer = loop.call_later(FLUSH_S, self._flush)
        return future

    def _flush(self) -> None:
        self._timer = None
        if self._in_flight is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        writes = [write for write, _ in batch]
        sql = self._sql
        running = self._in_flight = self._write_beside(lambda cursor: _run(sql, cursor, writes))

        def settle(done: asyncio.Future[list[bool]]) -> None:
            self._in_flight = None
            error = done.exception() if not done.cancelled() else asyncio.CancelledError()
            for i, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[i])
            if self._pending and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self._flush)

        running.add_done_callback(settle)

    async def drain(self) -> None:
        """Commit what is queued (at shutdown)."""
        while self._pending or self._in_flight is not None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._in_flight is None:
                self._flush()
            if self._in_flight is not None:
                await asyncio.wait([self._in_flight])

    async def written(self) -> None:
        """Wait until the writes submitted so far are committed: a read after
        it sees them (changes are shown before they are stored)."""
        if self._pending:
            last: asyncio.Future[Any] = self._pending[-1][1]
            if self._in_flight is None:
                if self._timer is not None:
                    self._timer.cancel()
                self._flush()
        elif self._in_flight is not None:
            last = self._in_flight
        else:
            return
        await asyncio.wait([last])

    async def get(self, instance_id: str) -> KpiInstance | None:
        await self.written()
        row = await self._engines.read.first(select(t).where(t.c.id == instance_id))
        return None if row is None else _instance(row)

    async def open_instances(self) -> list[KpiInstance]:
        """Every instance that may still change: what a timer must know."""
        query = select(t).where(t.c.status.in_([s.value for s in OPEN]))
        return [_instance(row) for row in await self._engines.read.all(query)]

    async def of_subject(self, kind: str, subject_id: str) -> list[KpiInstance]:
        query = (
            select(t)
            .where(t.c.subject_kind == kind, t.c.subject_id == subject_id)
            .order_by(t.c.generation, t.c.started_at, t.c.kpi)
        )
        await self.written()
        return [_instance(row) for row in await self._engines.read.all(query)]

    async def of_subjects(self, kind: str, subject_ids: Sequence[str]) -> list[KpiInstance]:
        query = select(t).where(t.c.subject_kind == kind, t.c.subject_id.in_(list(subject_ids)))
        await self.written()
        return [_instance(row) for row in await self._engines.read.all(query)]
