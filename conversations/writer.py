"""Group commit for messages: many senders, one transaction, then the acks.

Every caller of ``append`` waits for its message to be committed. While one
batch is being written, new requests queue up and go into the next batch, so
under load the cost of a commit (an fsync on SQLite) is shared by everyone who
arrived meanwhile, and at rest a single message is written at once.

The writer thread takes the next batch as soon as it has committed one: it
does not wait for the event loop to hand out the last batch's acks first (the
loop is busiest exactly then). ``on_commit`` runs on the loop after each
commit, before any caller is released, in ``seq`` order: that is where live
delivery hooks in, so a message is never delivered before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence

from conversations.errors import StoreError
from conversations.models import AppendRequest, AppendResult
from conversations.store import Store

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[AppendResult]], None]
Pending = tuple[AppendRequest, "asyncio.Future[AppendResult]"]
Outcome = list[AppendResult | StoreError] | Exception

ROUNDS = 8
"""Batches per turn on the writer thread; then other writer jobs (sentiment
scores) get their turn before the next."""


class WriterClosed(StoreError):
    def __init__(self) -> None:
        super().__init__("the message writer is shut down")


class MessageWriter:
    def __init__(self, store: Store, on_commit: CommitHook, *, max_batch: int = 500) -> None:
        self._store = store
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: deque[Pending] = deque()
        """Appended to on the loop, taken from on the writer thread (a deque's
        ``append`` and ``popleft`` are atomic)."""
        self._turn: asyncio.Future[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False

    def submit(self, request: AppendRequest) -> asyncio.Future[AppendResult]:
        """Queue ``request``; the future resolves once it is committed.

        Requests are written in the order they are submitted, so a client's
        messages get ``seq`` numbers in the order it sent them.
        """
        if self._closing:
            raise WriterClosed()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._queue.append((request, future))
        if self._turn is None:
            self._take_turn(loop)
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
        await self.flush()

    def _take_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        self._idle.clear()
        self._turn = self._store.on_writer_thread(self._write, loop)
        self._turn.add_done_callback(lambda _: self._turn_over(loop))

    def _turn_over(self, loop: asyncio.AbstractEventLoop) -> None:
        # Runs after the turn's ``_finish`` calls: they were queued first.
        self._turn = None
        if self._queue:
            self._take_turn(loop)
        else:
            self._idle.set()

    def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer thread: commit batches until none is waiting."""
        for _ in range(ROUNDS):
            batch: list[Pending] = []
            while self._queue and len(batch) < self._max_batch:
                batch.append(self._queue.popleft())
            if not batch:
                return
            outcome: Outcome
            try:
                outcome = self._store.append_on_writer_thread([request for request, _ in batch])
            except Exception as exc:  # the database failed: nobody is acknowledged
                log.exception("message batch of %d failed", len(batch))
                outcome = exc
            loop.call_soon_threadsafe(self._finish, batch, outcome)

    def _finish(self, batch: list[Pending], outcome: Outcome) -> None:
        if isinstance(outcome, Exception):
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreError(f"storage unavailable: {outcome}"))
            return
        stored = [r for r in outcome if isinstance(r, AppendResult) and not r.duplicate]
        if stored:
            try:
                self._on_commit(stored)
            except Exception:  # delivery must never undo or block a commit
                log.exception("commit hook failed")
        for (_, future), result in zip(batch, outcome, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(result, AppendResult):
                future.set_result(result)
            else:
                future.set_exception(result)
