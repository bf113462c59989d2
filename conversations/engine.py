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

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


@dataclass(frozen=True)
class Engines:
    read: AsyncEngine
    write: AsyncEngine
    dialect: str

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def normalise_url(url: str) -> URL:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def _sqlite_pragmas(engine: AsyncEngine, synchronous: str, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
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
        return Engines(read=read, write=write, dialect="sqlite")
    engine = create_async_engine(parsed, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return Engines(read=engine, write=engine, dialect="postgresql")
