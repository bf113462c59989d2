"""The router's timer honours a cancel that comes just as its wait ends.

Python 3.11's ``wait_for`` swallowed such a cancel, and the consumer wakes
the timer after every step: a router that lost its lease then waited for
ever in its step-down for the timer to stop, and its other tasks (the log
reader, the rescan) went on routing nothing (seen in ``bench/soak.py`` with
the routing node killed on a loaded machine)."""

from __future__ import annotations

import asyncio

import router as r
from gateway.routing import RoutingShell


async def test_a_cancel_as_the_timer_wakes_stops_it() -> None:
    config = r.RoutingConfig()
    shell = RoutingShell.__new__(RoutingShell)  # only the parts the timer uses
    shell.router = r.Router(config)
    shell._wake = asyncio.Event()
    shell._log = asyncio.Queue()
    timer = asyncio.create_task(shell._tick())
    await asyncio.sleep(0.01)  # the timer waits to be woken
    shell._wake.set()  # as the consumer does after every step: its wait ends,
    await asyncio.sleep(0)
    timer.cancel()  # and before it runs again, the step-down cancels it
    done, _ = await asyncio.wait({timer}, timeout=5)
    assert timer in done and timer.cancelled()
