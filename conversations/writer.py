"""Group commit for messages: many senders, one transaction, then the acks.

Every caller of ``append`` waits for its message to be committed. While one
batch is being written, new requests queue up and go into the next batch, so
under load the cost of a commit (an fsync on SQLite) is shared by everyone who
arrived meanwhile, and at rest a single message is written at once.
``on_commit`` runs after each commit, before any caller is released, in
``seq`` order: that is where live delivery hooks in, so a message is never
delivered before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from conversations.errors import StoreError
from conversations.models import AppendRequest, AppendResult
from conversations.store import Store

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[AppendResult]], None]


class WriterClosed(StoreError):
    def __init__(self) -> None:
        super().__init__("the message writer is shut down")


class MessageWriter:
    def __init__(self, store: Store, on_commit: CommitHook, *, max_batch: int = 500) -> None:
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._pending: list[tuple[AppendRequest, asyncio.Future[AppendResult]]] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-writer")

    def submit(self, request: AppendRequest) -> asyncio.Future[AppendResult]:
        """Queue ``request``; the future resolves once it is committed.

        Requests are written in the order they are submitted, so a client's
        messages get ``seq`` numbers in the order it sent them.
        """
        if self._closing:
            raise WriterClosed()
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._idle.clear()
        self._wakeup.set()
        return future

    async def append(self, request: AppendRequest) -> AppendResult:
        """Store ``request``; returns once it is committed (or raises)."""
        return await self.submit(request)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        await self._idle.wait()

    async def close(self) -> None:
        """Write everything already accepted, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
                await self._write(batch)
            self._idle.set()
            if self._closing:
                return

    async def _write(self, batch: list[tuple[AppendRequest, asyncio.Future[AppendResult]]]) -> None:
        try:
            results = await self._store.append_messages([request for request, _ in batch])
        except Exception as exc:  # the database failed: nobody is acknowledged
            log.exception("message batch of %d failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreError(f"storage unavailable: {exc}"))
            return
        stored = [r for r in results if isinstance(r, AppendResult) and not r.duplicate]
        if stored:
            try:
                self._on_commit(stored)
            except Exception:  # delivery must never undo or block a commit
                log.exception("commit hook failed")
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(result, AppendResult):
                future.set_result(result)
            else:
                future.set_exception(result)
