"""The worker: correct results under concurrency, batching, and a loop that stays responsive."""

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from sentiment import (
    ModelNotFoundError,
    ScoringError,
    Sentiment,
    UnknownBackendError,
    WorkerClosedError,
)
from sentiment.config import SentimentConfig
from sentiment.lexicon import LexiconScorer
from sentiment.worker import SentimentWorker
from tests.support.server import alive

reference = LexiconScorer()
MESSAGES = [
    "thanks so much, that fixed it!",
    "I am STILL waiting for my refund",
    "WHERE IS MY ORDER???",
    "ok",
    "this is the third time I ask \U0001f621",
    "great service \U0001f44d",
]
# Long enough that scoring a batch takes a good fraction of a second.
HEAVY = [" ".join(MESSAGES * 12) + f" {i}" for i in range(150)]


class LoopLag:
    """Measures how late a ticker task wakes up: the event loop's responsiveness."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.worst = 0.0
        self.ticks = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.worst = max(self.worst, loop.time() - expected)
            self.ticks += 1


@contextlib.asynccontextmanager
async def measuring_lag() -> AsyncIterator[LoopLag]:
    lag = LoopLag()
    ticker = asyncio.create_task(lag.run())
    await asyncio.sleep(0)
    try:
        yield lag
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


async def timed(coro: Awaitable[Any]) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await coro
    return result, loop.time() - started


async def test_the_lag_meter_sees_a_blocked_loop() -> None:
    # Control: scoring on the loop itself must show up as lag, or the
    # responsiveness tests below could not fail.
    async def score_on_the_loop() -> list[Sentiment]:
        return reference.score_batch(HEAVY)

    async with measuring_lag() as lag:
        await asyncio.sleep(0.01)
        _, took = await timed(score_on_the_loop())
        await asyncio.sleep(0.01)  # let the ticker wake up and see how late it is
    assert took > 0.1
    assert lag.worst > 0.8 * took


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_loop_stays_responsive_while_a_batch_is_scored(kind: str) -> None:
    async with SentimentWorker("lexicon", kind=kind, max_batch=len(HEAVY)) as worker:  # type: ignore[arg-type]
        async with measuring_lag() as lag:
            results, took = await timed(asyncio.gather(*(worker.score(t) for t in HEAVY)))
        assert worker.stats.batches == 1
    assert results == reference.score_batch(HEAVY)
    assert took > 0.1, "the batch was too light to show blocking"
    assert lag.ticks > 5
    # A thread shares the GIL with the loop, so it may cost a few switch
    # intervals (5 ms each); a process costs none. Inline scoring costs `took`.
    assert lag.worst < (0.05 if kind == "thread" else 0.03)
    assert lag.worst < took / 3


async def test_concurrent_requests_get_their_own_results_in_few_batches() -> None:
    texts = [f"{MESSAGES[i % len(MESSAGES)]} #{i}" for i in range(300)]
    async with SentimentWorker("lexicon", kind="process", max_batch=64) as worker:
        results = await asyncio.gather(*(worker.score(t) for t in texts))
        stats = worker.stats
    assert results == [reference.score(t) for t in texts]
    assert stats.scored == 300
    assert stats.batches == 5  # ceil(300 / 64): everything queued before the first batch
    assert stats.largest_batch == 64


async def test_score_many_keeps_order_across_batches() -> None:
    texts = [f"{MESSAGES[i % len(MESSAGES)]} #{i}" for i in range(150)]
    async with SentimentWorker("lexicon", kind="process", max_batch=64) as worker:
        results = await worker.score_many(texts)
        assert worker.stats.batches == 3
    assert results == [reference.score(t) for t in texts]


async def test_score_many_fails_whole_when_a_batch_fails() -> None:
    async with SentimentWorker(scorer=FailingOnce(), kind="thread") as worker:
        with pytest.raises(ScoringError, match="model exploded"):
            await worker.score_many(["first", "second"])
        assert [s.score for s in await worker.score_many(["third"])] == [0.5]


async def test_language_travels_with_each_request() -> None:
    async with SentimentWorker("lexicon", kind="thread") as worker:
        english, spanish = await asyncio.gather(
            worker.score("no me gusta nada, awful"), worker.score("no me gusta nada, awful", "es")
        )
    assert english.score < 0
    assert spanish.score == 0.0


async def test_a_lone_request_is_scored_after_at_most_the_batch_delay() -> None:
    async with SentimentWorker("lexicon", kind="thread", max_delay=0.005) as worker:
        result = await asyncio.wait_for(worker.score("thanks so much"), timeout=5)
    assert result == reference.score("thanks so much")


class FailingOnce:
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, text: str, language: str | None = None) -> Sentiment:
        return self.score_batch([text])[0]

    def score_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[Sentiment]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("model exploded")
        return [Sentiment.from_score(0.5) for _ in texts]


async def test_a_failing_batch_fails_its_requests_and_the_worker_carries_on() -> None:
    async with SentimentWorker(scorer=FailingOnce(), kind="thread") as worker:
        with pytest.raises(ScoringError, match="model exploded") as caught:
            await worker.score("first")
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert (await worker.score("second")).score == 0.5


async def test_a_cancelled_request_does_not_disturb_the_others() -> None:
    async with SentimentWorker("lexicon", kind="thread", max_delay=0.01) as worker:
        doomed = asyncio.create_task(worker.score("cancel me"))
        kept = asyncio.create_task(worker.score("thanks so much"))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await kept == reference.score("thanks so much")
        with pytest.raises(asyncio.CancelledError):
            await doomed


async def test_close_scores_what_is_already_queued() -> None:
    worker = SentimentWorker("lexicon", kind="thread", max_delay=0.05)
    await worker.start()
    pending = [asyncio.create_task(worker.score(t)) for t in MESSAGES]
    await asyncio.sleep(0)
    await worker.close()
    assert [task.result() for task in pending] == reference.score_batch(MESSAGES)
    with pytest.raises(WorkerClosedError):
        await worker.score("too late")
    await worker.close()  # idempotent


async def test_scoring_before_start_is_refused() -> None:
    with pytest.raises(WorkerClosedError, match="start"):
        await SentimentWorker("lexicon").score("hello")


Starter = Callable[[], SentimentWorker]


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: SentimentWorker("nope", kind="thread"), UnknownBackendError),
        (
            lambda: SentimentWorker("transformers", "/no/such/dir", kind="process"),
            ModelNotFoundError,
        ),
    ],
)
async def test_load_errors_surface_from_start(make: Starter, error: type[Exception]) -> None:
    worker = make()
    with pytest.raises(error):
        await worker.start()
    assert not worker.running


def test_auto_kind_uses_a_process_for_the_lexicon_and_a_thread_for_models() -> None:
    assert SentimentWorker("lexicon").kind == "process"
    assert SentimentWorker("transformers", "/models/x").kind == "thread"
    config = SentimentConfig(worker="thread", batch_size=8, batch_delay_ms=1)
    assert SentimentWorker.from_config(config).kind == "thread"


def test_a_ready_scorer_cannot_run_in_a_process() -> None:
    with pytest.raises(ValueError, match="thread"):
        SentimentWorker(scorer=reference, kind="process")


_OWNER = """
import asyncio, multiprocessing, sys
from sentiment.worker import SentimentWorker
from tests.support.server import alive

async def main():
    worker = SentimentWorker(backend="lexicon", kind="process")
    await worker.start()
    print(*(p.pid for p in multiprocessing.active_children()), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_worker_process_ends_when_its_owner_is_killed() -> None:
    """A gateway killed outright cannot shut its pool down; its scoring
    processes must not live on (one more set at every restart)."""
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True
    ) as owner:
        assert owner.stdout is not None
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert workers
        owner.send_signal(signal.SIGKILL)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
