"""Database engines for the store: SQLite (WAL) by default, PostgreSQL at scale.

SQLite allows one writer at a time, so writes go through an engine with a
single pooled connection whose transactions start with ``BEGIN IMMEDIATE``
(taking the write lock up front rather than failing on upgrade). Reads use
their own synchronous pool on threads of their own (``reads.Reads``) and see
committed data through WAL.

SQLite's automatic WAL checkpoint runs inside whichever commit crosses the
threshold and fsyncs the database file there: a message batch that happens
to be that commit waits 100 ms or more. So no connection checkpoints on
commit; ``Engines.checkpoint`` does it on its own connection, off the write
path (the store calls it from a background thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from conversations.reads import THREADS, Reads

WAL_RESTART_FRAMES = 16_384
"""64 MiB of 4 KiB pages; also the size a restarted WAL file is cut back to."""


@dataclass(frozen=True)
class Engines:
    read: Reads
    write: AsyncEngine
    batch: Engine
    """Synchronous, for the message writer thread: a whole batch is one
    function call there instead of a dozen round trips through the loop."""
    dialect: str
    checkpointer: Engine | None = None
    """SQLite only: its own connection for WAL checkpoints."""

    def checkpoint(self) -> None:
        """Copy the SQLite WAL back into the database file (a no-op on
        PostgreSQL).

        A PASSIVE checkpoint never waits for the writer, but under steady load
        it never catches up with it either, and the WAL only starts over once
        a checkpoint has copied every frame before the next write begins: it
        grew by 110 MB a benchmark round, and reads slowed as it did. So past
        ``WAL_RESTART_FRAMES`` a RESTART follows; it holds the writer off only
        while it copies what was written during the PASSIVE pass.
        """
        if self.checkpointer is None:
            return
        with self.checkpointer.connect() as conn:
            _, frames, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if frames >= WAL_RESTART_FRAMES:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()

    async def dispose(self) -> None:
        await self.write.dispose()
        self.read.close()
        self.batch.dispose()
        if self.checkpointer is not None:
            self.checkpointer.dispose()


def normalise_url(url: str, *, sync: bool = False) -> URL:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick drivers
    (aiosqlite or pysqlite; psycopg in both modes)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite" if sync else "sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def _sqlite_pragmas(engine: AsyncEngine | Engine, synchronous: str, begin: str | None) -> None:
    """Pragmas for every new connection; ``begin`` starts each transaction
    (None: none is started, each statement commits alone)."""
    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_RESTART_FRAMES * 4096}")
        cursor.close()

    if begin is not None:

        @event.listens_for(target, "begin")
        def on_begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)


def json_text(value: Any) -> str:
    """The stores' JSON encoding (orjson: the stdlib encoder costs
    microseconds per message on the hot path)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def create_engines(url: str, *, sqlite_synchronous: str = "FULL") -> Engines:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        sync_url = normalise_url(url, sync=True)
        write = create_async_engine(
            parsed,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            **_JSON,
        )
        _sqlite_pragmas(write, sqlite_synchronous, "BEGIN IMMEDIATE")
        read = create_engine(sync_url, poolclass=QueuePool, pool_size=THREADS, **_JSON)
        # A read is one statement (``Reads``), a snapshot by itself.
        _sqlite_pragmas(read, sqlite_synchronous, None)
        batch = create_engine(sync_url, poolclass=QueuePool, pool_size=1, **_JSON)
        _sqlite_pragmas(batch, sqlite_synchronous, "BEGIN IMMEDIATE")
        checkpointer = create_engine(sync_url, poolclass=QueuePool, pool_size=1)
        _sqlite_pragmas(checkpointer, sqlite_synchronous, None)
        return Engines(Reads(read), write, batch, "sqlite", checkpointer)
    write = create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True, **_JSON)
    # A read is one statement (``Reads``): in a transaction of its own, the
    # driver's BEGIN and the pool's ROLLBACK on return were two more round
    # trips, each waited for on a read thread that must then win the GIL back.
    read = create_engine(parsed, pool_size=THREADS, isolation_level="AUTOCOMMIT", **_JSON)
    batch = create_engine(parsed, pool_size=1, pool_pre_ping=True, **_JSON)
    return Engines(Reads(read), write, batch, "postgresql")
