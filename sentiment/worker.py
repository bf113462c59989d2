"""Scoring off the event loop, micro-batched: the asyncio face of a scorer.

`SentimentWorker.score(text)` queues the text and returns its `Sentiment`
once scored; the gateway delivers the message without waiting for it. A
batcher task collects queued requests (up to `max_batch`, waiting at most
`max_delay` seconds for a batch to fill) and hands each batch to an executor.
While every executor slot is busy requests keep queueing, so batches grow
exactly when load does.

Which executor (`kind`):

- ``process`` (the default for the lexicon): the lexicon is pure Python and
  holds the GIL for all of its work. In a thread it would compete with the
  event loop for the GIL, and the loop would stall for up to the interpreter's
  switch interval (5 ms) at every hand-over, for the whole batch. A process
  has its own GIL; the loop only pays for pickling short strings and floats.
- ``thread`` (the default for transformers): torch and ONNX Runtime release
  the GIL inside their kernels, so a thread leaves the loop free, and it
  avoids loading a second copy of the model and a process start.
- ``auto`` picks between the two by backend, as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

from sentiment.errors import ScoringError, SentimentError, WorkerClosedError
from sentiment.registry import get_scorer
from sentiment.scorer import DEFAULT_NEUTRAL_BAND, Scorer, Sentiment

if TYPE_CHECKING:
    from sentiment.config import SentimentConfig

logger = logging.getLogger(__name__)

WorkerKind = Literal["auto", "process", "thread"]

#: Backends whose work holds the GIL (pure Python); `auto` runs them in a process.
_GIL_BOUND_BACKENDS = frozenset({"lexicon", "vader"})


# -- what runs inside the worker process ---------------------------------------------

PARENT_CHECK_S = 1.0


def _end_with_parent(parent: int) -> None:
    """End this worker once the process that started it is gone. A gateway
    killed outright (SIGKILL, the OOM killer) cannot shut its pool down, and
    its workers would otherwise live on, unparented, one set per restart."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_process_scorers: dict[tuple[str, str | None, float], Scorer] = {}


def _process_scorer(backend: str, model: str | None, neutral_band: float) -> Scorer:
    key = (backend, model, neutral_band)
    scorer = _process_scorers.get(key)
    if scorer is None:
        scorer = _process_scorers[key] = get_scorer(backend, model, neutral_band=neutral_band)
    return scorer


def _process_warm(backend: str, model: str | None, neutral_band: float) -> str:
    return _process_scorer(backend, model, neutral_band).name


def _process_score(
    backend: str,
    model: str | None,
    neutral_band: float,
    texts: list[str],
    languages: list[str | None],
) -> list[float]:
    # Only floats cross back: the label is a pure function of the score.
    scorer = _process_scorer(backend, model, neutral_band)
    return [s.score for s in scorer.score_batch(texts, languages)]


# -- the asyncio side ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters for observability: how much was scored, in how many batches."""

    scored: int
    batches: int
    largest_batch: int
    pending: int


@dataclass(slots=True)
class _Request:
    text: str
    language: str | None
    future: asyncio.Future[Sentiment]


class SentimentWorker:
    """Scores texts in an executor, micro-batched, without blocking the event loop.

    Args:
        backend: a registry backend name ("lexicon", "transformers", ...).
        model: the model directory, for backends that need one.
        kind: "process", "thread" or "auto" (see the module docstring).
        workers: executor slots; that many batches are scored at once.
        max_batch: most texts per batch.
        max_delay: seconds to wait for a partial batch to fill (0: never wait).
        neutral_band: |score| below this is labelled neutral.
        scorer: a ready scorer to run in a thread instead of building `backend`
            (for embedding and tests); `kind` must then be "thread" or "auto".
    """

    def __init__(
        self,
        backend: str = "lexicon",
        model: str | Path | None = None,
        *,
        kind: WorkerKind = "auto",
        workers: int = 1,
        max_batch: int = 64,
        max_delay: float = 0.002,
        neutral_band: float = DEFAULT_NEUTRAL_BAND,
        scorer: Scorer | None = None,
    ) -> None:
        if workers < 1 or max_batch < 1 or max_delay < 0:
            raise ValueError("workers and max_batch must be >= 1 and max_delay >= 0")
        if kind == "auto":
            kind = "process" if scorer is None and backend in _GIL_BOUND_BACKENDS else "thread"
        if scorer is not None and kind != "thread":
            raise ValueError("a ready scorer can only run in a thread (kind='thread')")
        self.backend = scorer.name if scorer is not None else backend
        self.kind: Literal["process", "thread"] = kind
        self._model = str(model) if model is not None else None
        self._workers = workers
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._neutral_band = neutral_band
        self._scorer = scorer
        self._executor: Executor | None = None
        self._pending: deque[_Request] = deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._slots = asyncio.Semaphore(workers)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._batcher: asyncio.Task[None] | None = None
        self._closing = False
        self._scored = 0
        self._batches = 0
        self._largest = 0

    @classmethod
    def from_config(cls, config: SentimentConfig) -> SentimentWorker:
        return cls(
            config.backend,
            config.model,
            kind=config.worker,
            workers=config.workers,
            max_batch=config.batch_size,
            max_delay=config.batch_delay_ms / 1000,
            neutral_band=config.neutral_band,
        )

    @property
    def stats(self) -> WorkerStats:
        return WorkerStats(self._scored, self._batches, self._largest, len(self._pending))

    @property
    def running(self) -> bool:
        return self._batcher is not None and not self._closing

    async def start(self) -> None:
        """Start the executor and load the scorer in it, so load errors surface here.

        Raises:
            SentimentError: the backend or its model cannot be loaded.
        """
        if self._batcher is not None:
            raise WorkerClosedError("this sentiment worker was already started")
        loop = asyncio.get_running_loop()
        self._executor = self._new_executor()
        try:
            if self.kind == "process":
                await loop.run_in_executor(
                    self._executor,
                    _process_warm,
                    self.backend,
                    self._model,
                    self._neutral_band,
                )
            elif self._scorer is None:
                self._scorer = await loop.run_in_executor(self._executor, self._build_scorer)
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            raise
        self._batcher = asyncio.create_task(self._batch_loop(), name="sentiment-batcher")
        logger.info("sentiment worker started: %s in a %s", self.backend, self.kind)

    async def score(self, text: str, language: str | None = None) -> Sentiment:
        """Score one text; concurrent calls are batched together.

        Raises:
            WorkerClosedError: the worker is not started or is closing.
            ScoringError: the scorer failed on the batch holding this text.
        """
        if not self.running:
            raise WorkerClosedError("the sentiment worker is not running; call start() first")
        future: asyncio.Future[Sentiment] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(text, language, future))
        self._wakeup.set()
        if len(self._pending) >= self._max_batch:
            self._full.set()
        return await future

    async def score_many(self, texts: Sequence[str]) -> list[Sentiment]:
        """Score several texts, in order; they join the queue together.

        Raises:
            WorkerClosedError: the worker is not started or is closing.
            ScoringError: the scorer failed on a batch holding one of them.
        """
        if not self.running:
            raise WorkerClosedError("the sentiment worker is not running; call start() first")
        loop = asyncio.get_running_loop()
        requests = [_Request(text, None, loop.create_future()) for text in texts]
        self._pending.extend(requests)
        self._wakeup.set()
        if len(self._pending) >= self._max_batch:
            self._full.set()
        scored: list[Sentiment] = []
        failure: BaseException | None = None
        for request in requests:  # every future is awaited, so none fails unseen
            try:
                scored.append(await request.future)
            except SentimentError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return scored

    async def close(self) -> None:
        """Score what is already queued, then stop the executor. Idempotent."""
        if self._closing or self._batcher is None:
            self._closing = True
            return
        self._closing = True
        self._wakeup.set()
        self._full.set()
        await self._batcher
        if self._executor is not None:
            executor, self._executor = self._executor, None
            # Joining worker processes blocks; do it off the loop.
            await asyncio.to_thread(executor.shutdown, wait=True)
        logger.info("sentiment worker closed after %d texts", self._scored)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- internals -------------------------------------------------------------------

    def _new_executor(self) -> Executor:
        if self.kind == "process":
            # spawn, not fork: forking a process that runs an event loop and
            # threads can copy held locks into the child.
            return ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_end_with_parent,
                initargs=(os.getpid(),),
            )
        return ThreadPoolExecutor(self._workers, thread_name_prefix="sentiment")

    def _build_scorer(self) -> Scorer:
        return get_scorer(self.backend, self._model, neutral_band=self._neutral_band)

    async def _batch_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                if self._closing:
                    break
                continue
            if len(self._pending) < self._max_batch and self._max_delay > 0 and not self._closing:
                # Let a partial batch fill, but never keep the first text waiting longer.
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._max_delay):
                        await self._full.wait()
            await self._slots.acquire()
            size = min(self._max_batch, len(self._pending))
            batch = [self._pending.popleft() for _ in range(size)]
            task = asyncio.create_task(self._score_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            if self._pending or self._closing:
                self._wakeup.set()
        if self._in_flight:
            await asyncio.gather(*self._in_flight)

    async def _score_batch(self, batch: list[_Request]) -> None:
        try:
            live = [request for request in batch if not request.future.done()]
            if not live:
                return
            texts = [request.text for request in live]
            languages = [request.language for request in live]
            try:
                scores = await self._run(texts, languages)
            except Exception as error:
                failure: SentimentError
                if isinstance(error, SentimentError):
                    failure = error
                else:
                    failure = ScoringError(f"scoring a batch of {len(texts)} failed: {error!r}")
                    failure.__cause__ = error
                logger.warning("sentiment batch failed: %s", failure)
                for request in live:
                    if not request.future.done():
                        request.future.set_exception(failure)
                return
            self._scored += len(live)
            self._batches += 1
            self._largest = max(self._largest, len(live))
            for request, score in zip(live, scores, strict=True):
                if not request.future.done():
                    request.future.set_result(Sentiment.from_score(score, self._neutral_band))
        finally:
            self._slots.release()

    async def _run(self, texts: list[str], languages: list[str | None]) -> Sequence[float]:
        loop = asyncio.get_running_loop()
        if self._executor is None:  # pragma: no cover - close() waits for batches first
            raise WorkerClosedError("the sentiment worker's executor is gone")
        if self.kind == "thread":
            scorer = self._scorer
            assert scorer is not None
            results = await loop.run_in_executor(
                self._executor, scorer.score_batch, texts, languages
            )
            return [s.score for s in results]
        try:
            return await loop.run_in_executor(
                self._executor,
                _process_score,
                self.backend,
                self._model,
                self._neutral_band,
                texts,
                languages,
            )
        except BrokenProcessPool:
            # A worker process died (killed, out of memory): replace the pool so
            # later batches work; this batch fails.
            logger.error("sentiment worker process died; starting a new pool")
            self._executor = self._new_executor()
            raise
