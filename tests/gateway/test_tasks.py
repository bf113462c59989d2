"""Stopping background tasks, including one that loses its cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from gateway import tasks


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again():
    ended = asyncio.Event()

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # lost, as a library might
            await asyncio.sleep(3600)
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.stop(task), 5)
    assert task.cancelled() and ended.is_set()


async def test_none_and_finished_tasks_are_passed_over():
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await tasks.stop(None, done)
