"""The outbox of one websocket client: frames sent at once while the socket
takes them, in order behind one that had to wait, and a client that stops
reading disconnected rather than buffered without end; under a server
without ``SEND_NOW`` the sender task sends everything, in the same order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from gateway.connection import CLOSE_TRY_AGAIN, Connection
from gateway.ws_protocol import SEND_NOW


class Socket:
    """Takes frames while ``open_`` is set, as a transport below its
    high-water mark does; a send waits while it is cleared (and ``send_now``
    refuses)."""

    def __init__(self, send_now: bool) -> None:
        self.open_ = asyncio.Event()
        self.open_.set()
        self.sent: list[int] = []
        self.closed: int | None = None
        self.application_state = WebSocketState.CONNECTED
        self.scope: dict[str, Any] = {"extensions": {SEND_NOW: self.send_now} if send_now else {}}

    def send_now(self, text: str) -> bool:
        if not self.open_.is_set():
            return False
        self.sent.append(json.loads(text)["n"])
        return True

    async def send_text(self, text: str) -> None:
        if not self.open_.is_set():
            await self.open_.wait()
        self.sent.append(json.loads(text)["n"])

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = code


@pytest.fixture(params=[True, False], ids=["send_now", "asgi_only"])
def send_now(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def _connection(send_now: bool, limit: int = 100) -> tuple[Connection, Socket]:
    socket = Socket(send_now)
    unused: Any = None  # neither topics nor the store are touched here
    conn = Connection(socket, unused, unused, queue_size=limit, staff=False)  # type: ignore[arg-type]
    conn.start()
    await asyncio.sleep(0)  # the sender task parks
    return conn, socket


async def _until(check: Any) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def test_a_frame_goes_out_on_the_callers_turn():
    conn, socket = await _connection(send_now=True)
    conn.send({"n": 1})
    assert socket.sent == [1]  # no wait for the sender task
    await conn.stop()


async def test_without_send_now_the_sender_task_sends():
    conn, socket = await _connection(send_now=False)
    conn.send({"n": 1})
    assert socket.sent == []
    await _until(lambda: socket.sent == [1])
    await conn.stop()


async def test_frames_behind_one_that_waits_keep_their_order(send_now: bool):
    conn, socket = await _connection(send_now)
    conn.send({"n": 1})
    await _until(lambda: socket.sent == [1])
    socket.open_.clear()
    for n in (2, 3, 4):
        conn.send({"n": n})
    await asyncio.sleep(0)
    assert socket.sent == [1]
    socket.open_.set()
    await _until(lambda: len(socket.sent) == 4)
    conn.send({"n": 5})
    await _until(lambda: len(socket.sent) == 5)
    assert socket.sent == [1, 2, 3, 4, 5]
    await conn.stop()


async def test_a_client_that_stops_reading_is_disconnected(send_now: bool):
    conn, socket = await _connection(send_now, limit=10)
    socket.open_.clear()
    for n in range(12):
        conn.send({"n": n})
    await _until(lambda: socket.closed is not None)
    assert conn.closing and socket.closed == CLOSE_TRY_AGAIN
    await conn.stop()


async def test_stopping_gives_up_a_send_that_waits(send_now: bool):
    conn, socket = await _connection(send_now)
    socket.open_.clear()
    conn.send({"n": 1})
    await asyncio.sleep(0)  # the sender task is waiting on the socket
    await conn.stop()
    socket.open_.set()
    await asyncio.sleep(0)
    assert socket.sent == []
