"""Reads, each done whole on a thread of its own with a synchronous connection.

Through aiosqlite every step of a read (check out, BEGIN, execute, fetch,
close, ROLLBACK) is its own round trip between the event loop and the
driver's thread: a one-row read cost about 1.2 ms of CPU that way, against
about 0.25 ms as one function call on a thread. Reads are most of what a
websocket hello does, so a reconnect storm (every client of a restarted node
at once) is bounded by them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, Executable, Row
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

THREADS = 2
"""One thread hop costs more CPU the more threads contend for the GIL; two
still overlap one read's disk or network wait with another's work."""


class Reads:
    """``all``, ``first`` and ``scalar`` of one statement, awaited on the loop."""

    def __init__(self, engine: Engine, threads: int = THREADS) -> None:
        self._engine = engine
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="db-read")

    async def all(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        return await self._run(statement, params, CursorResult.all)

    async def first(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Row[Any] | None:
        return await self._run(statement, params, CursorResult.first)

    async def scalar(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return await self._run(statement, params, CursorResult.scalar)

    async def map(
        self,
        statement: Executable,
        convert: Callable[[Row[Any]], T],
        params: Mapping[str, Any] | None = None,
    ) -> list[T]:
        """Every row, ``convert``-ed on the read thread: for many rows at once,
        where the conversion (dates parsed, objects built) would otherwise
        hold the loop for milliseconds in one piece."""
        return await self._run(statement, params, lambda result: [convert(r) for r in result])

    async def _run(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None,
        fetch: Callable[[CursorResult[Any]], T],
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._read, statement, params, fetch)

    def _read(
        self,
        statement: Executable,
        params: Mapping[str, Any] | None,
        fetch: Callable[[CursorResult[Any]], T],
    ) -> T:
        # Connections are not pinged before use (a round trip per read); one
        # found dead (the database restarted) is dropped, and the read, which
        # changes nothing, runs again on a fresh one.
        for attempt in (1, 2):
            try:
                with self._engine.connect() as conn:
                    return fetch(conn.execute(statement, params))
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._engine.dispose()
