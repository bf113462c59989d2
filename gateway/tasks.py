"""Stopping the gateway's background tasks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_S = 1.0


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again every
    second while one goes on. A cancellation can be lost (a library catching
    it, or a timeout firing as it lands), and a shutdown that waited once
    for such a task waited for ever: a routing node's heartbeat loop was
    seen beating on after SIGTERM. Failures other than the cancellation
    are logged, so that the rest of the shutdown goes on."""
    running = {task for task in tasks if task is not None and not task.done()}
    waiting = set(running)
    while waiting:
        for task in waiting:
            task.cancel()
        _, waiting = await asyncio.wait(waiting, timeout=RECANCEL_S)
    for task in running:
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed as it stopped", task.get_name(), exc_info=task.exception())
