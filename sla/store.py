"""KPI instances in the database, beside the conversation store (``Store.engines``).

The one write that matters is ``change``: a compare-and-set on the status
the caller saw, so whichever timer (this node after a restart, or another
node) stores a warning first is the only one that announces it.

Writes are gathered for ``FLUSH_S`` and committed together, one transaction
per batch, as a job on the message writer's thread (``on_writer_thread``),
as sentiment scores are: on SQLite a transaction of its own from another
connection would take the write lock in front of a message batch, whose
busy-wait then sleeps for milliseconds. Each statement's own row count still
answers its compare-and-set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from conversations.engine import Engines
from conversations.times import as_utc
from sla.clock import OPEN, KpiInstance, KpiStatus
from sla.tables import sla_instances as t

FLUSH_S = 0.01
"""How long writes gather before they are committed together."""

OnWriterThread = Callable[..., "asyncio.Future[Any]"]
Statement = tuple[str, Sequence[Any]]

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
    """The two write statements in the driver's own placeholder style, with
    the columns' bind processors: a batch runs on a raw DB-API cursor, a few
    microseconds a statement instead of SQLAlchemy's hundreds, since it holds
    up the message writer's thread while it runs."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self.columns = [c.name for c in t.columns]
        self.insert = (
            f"INSERT INTO sla_instances ({', '.join(self.columns)})"
            f" VALUES ({', '.join([mark] * len(self.columns))}) ON CONFLICT DO NOTHING"
        )
        sets = ", ".join(f"{name} = {mark}" for name in _CHANGING)
        self.update = (
            f"UPDATE sla_instances SET {sets}"
            f" WHERE id = {mark} AND status = {mark} AND warned = {mark}"
        )
        self._process: dict[str, Callable[[Any], Any]] = {}
        for column in t.columns:
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._process[column.name] = process

    def _bind(self, name: str, value: Any) -> Any:
        process = self._process.get(name)
        return value if process is None or value is None else process(value)

    def inserting(self, values: dict[str, Any]) -> Statement:
        return self.insert, [self._bind(name, values[name]) for name in self.columns]

    def changing(self, before: KpiInstance, values: dict[str, Any]) -> Statement:
        params = [self._bind(name, values[name]) for name in _CHANGING]
        params += [before.id, before.status.value, self._bind("warned", before.warned)]
        return self.update, params


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
        on_writer_thread: ``Store.on_writer_thread``; None runs the batches on
            the loop's default executor (tests, tools).
    """

    def __init__(self, engines: Engines, on_writer_thread: OnWriterThread | None = None) -> None:
        self._engines = engines
        self._on_writer_thread = on_writer_thread
        self._sql = _Sql(engines.batch) if engines is not None else None
        self._pending: list[tuple[Statement, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: asyncio.Future[Any] | None = None

    async def add(self, instance: KpiInstance, now: float) -> bool:
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
        assert self._sql is not None
        return await self._submit(self._sql.inserting(values))

    async def change(self, before: KpiInstance, after: KpiInstance, now: float) -> bool:
        """Write ``after`` if the row still has ``before``'s status (and
        warning flag); False when someone else moved it first."""
        assert self._sql is not None
        return await self._submit(self._sql.changing(before, _row(after, now)))

    # -- the batches ------------------------------------------------------------

    def _submit(self, statement: Statement) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((statement, future))
        if self._timer is None and self._in_flight is None:
            self._timer = loop.call_later(FLUSH_S, self._flush)
        return future

    def _flush(self) -> None:
        self._timer = None
        if self._in_flight is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        statements = [statement for statement, _ in batch]
        if self._on_writer_thread is not None:
            running = self._on_writer_thread(self._write, statements)
        else:
            running = asyncio.get_running_loop().run_in_executor(None, self._write, statements)
        self._in_flight = running

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

    def _write(self, statements: Sequence[Statement]) -> list[bool]:
        """On the writer thread: the whole batch, one transaction."""
        assert self._sql is not None
        sqlite = self._sql.sqlite
        raw = self._engines.batch.raw_connection()
        try:
            cursor = raw.cursor()
            setting = None
            if sqlite:
                # WAL without an fsync per commit: a commit survives the
                # process dying (a restart); only a power cut may lose the
                # last batch. The pool is the message writer's: restored below.
                cursor.execute("PRAGMA synchronous")
                (setting,) = cursor.fetchone() or (2,)
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("BEGIN IMMEDIATE")
            try:
                results = []
                for sql, params in statements:
                    cursor.execute(sql, params)
                    results.append(cursor.rowcount == 1)
                raw.commit()
                return results
            except BaseException:
                raw.rollback()
                raise
            finally:
                if setting is not None:
                    cursor.execute(f"PRAGMA synchronous={setting}")
                cursor.close()
        finally:
            raw.close()

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

    async def get(self, instance_id: str) -> KpiInstance | None:
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
        return [_instance(row) for row in await self._engines.read.all(query)]

    async def of_subjects(self, kind: str, subject_ids: Sequence[str]) -> list[KpiInstance]:
        query = select(t).where(t.c.subject_kind == kind, t.c.subject_id.in_(list(subject_ids)))
        return [_instance(row) for row in await self._engines.read.all(query)]
