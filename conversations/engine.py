"""Database engines for the store: SQLite (WAL) by default, PostgreSQL at scale.

SQLite allows one writer at a time, so writes go through an engine with a
single pooled connection whose transactions start with ``BEGIN IMMEDIATE``
(taking the write lock up front rather than failing on upgrade), while reads
use their own pool and see committed data through WAL. PostgreSQL uses one
engine for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool


@dataclass(frozen=True)
class Engines:
    read: AsyncEngine
    write: AsyncEngine
    batch: Engine
    """Synchronous, for the message writer thread: a whole batch is one
    function call there instead of a dozen round trips through the loop."""
    dialect: str

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()
        self.batch.dispose()


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


def _sqlite_pragmas(engine: AsyncEngine | Engine, synchronous: str, begin: str) -> None:
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
        cursor.close()

    @event.listens_for(target, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def create_engines(url: str, *, sqlite_synchronous: str = "FULL") -> Engines:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        write = create_async_engine(
            parsed, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=60
        )
        _sqlite_pragmas(write, sqlite_synchronous, "BEGIN IMMEDIATE")
        read = create_async_engine(
            parsed, poolclass=AsyncAdaptedQueuePool, pool_size=4, max_overflow=4
        )
        _sqlite_pragmas(read, sqlite_synchronous, "BEGIN")
        batch = create_engine(normalise_url(url, sync=True), poolclass=QueuePool, pool_size=1)
        _sqlite_pragmas(batch, sqlite_synchronous, "BEGIN IMMEDIATE")
        return Engines(read=read, write=write, batch=batch, dialect="sqlite")
    engine = create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)
    batch = create_engine(parsed, pool_size=1, pool_pre_ping=True)
    return Engines(read=engine, write=engine, batch=batch, dialect="postgresql")
