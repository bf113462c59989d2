"""Frames written in one turn of the event loop leave in one write, in order,
and nothing written is lost when the socket is closed right after; the app's
``SEND_NOW`` and ``RECEIVE_NOW`` keep the order of ASGI's own sends and
receives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from gateway.ws_protocol import (
    RECEIVE_NOW,
    SEND_NOW,
    CoalescingTransport,
    CoalescingWebSocketProtocol,
)
from tests.support.server import free_port


class Recording:
    """A real socket's transport that remembers each write it was given."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[CoalescingTransport, Recording, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    recording = Recording(transport)  # type: ignore[arg-type]
    return CoalescingTransport(recording, loop), recording, peer  # type: ignore[arg-type]


async def _read_to_end(peer: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while chunk := await asyncio.wait_for(loop.sock_recv(peer, 65536), 5):
        data += chunk
    return data


async def test_writes_in_one_turn_leave_in_one_write_on_the_next():
    transport, recording, peer = await _pair()
    transport.write(b"one;")
    transport.writelines([b"two;", b"three;"])
    assert recording.writes == []  # held until the turn is over
    await asyncio.sleep(0)
    assert recording.writes == [b"one;two;three;"]
    transport.write(b"four;")
    await asyncio.sleep(0)
    assert recording.writes == [b"one;two;three;", b"four;"]
    transport.close()
    assert await _read_to_end(peer) == b"one;two;three;four;"
    peer.close()


async def test_close_sends_what_is_held_first():
    transport, recording, peer = await _pair()
    transport.write(b"last words")
    transport.close()  # in the same turn
    assert await _read_to_end(peer) == b"last words"
    await asyncio.sleep(0)  # the flush already scheduled finds nothing to send
    assert recording.writes == [b"last words"]
    peer.close()


async def test_end_of_file_comes_after_what_is_held():
    transport, _, peer = await _pair()
    transport.write(b"then the end")
    transport.write_eof()
    assert await _read_to_end(peer) == b"then the end"
    transport.close()
    peer.close()


async def test_abort_drops_what_is_held():
    transport, recording, peer = await _pair()
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert recording.writes == []
    assert await _read_to_end(peer) == b""
    peer.close()


async def test_the_rest_of_the_transport_is_the_real_one():
    transport, recording, peer = await _pair()
    assert transport.get_extra_info("socket") is recording.transport.get_extra_info("socket")
    assert not transport.is_closing()
    transport.close()
    assert transport.is_closing()
    peer.close()


async def test_send_now_writes_in_order_with_asgi_sends_and_refuses_when_it_cannot():
    """Through a real uvicorn server and a real client: refused before the
    accept, frames in call order beside ASGI's own sends, refused after the
    app's close."""
    refused: list[bool] = []

    async def app(ws: WebSocket) -> None:
        send_now = ws.scope["extensions"][SEND_NOW]
        refused.append(not send_now("too early"))
        await ws.accept()
        assert send_now("one") and send_now("two")
        await ws.send_text("three")
        assert send_now("four")
        await ws.close()
        refused.append(not send_now("too late"))

    async with _serving(app) as url, websockets.connect(url) as client:
        got = [await client.recv() for _ in range(4)]
        with pytest.raises(websockets.ConnectionClosedOK):
            await client.recv()
    assert got == ["one", "two", "three", "four"]
    assert refused == [True, True]


async def test_receive_now_takes_frames_only_while_nothing_waits_ahead_of_them():
    """Frames the handler declines, and every frame behind them until the app
    has received them, go through ASGI's ``receive``: the order is kept."""
    texts = ["now 1", "later 1", "now 2", "now 3", "later 2", "now 4"]

    async def app(ws: WebSocket) -> None:
        await ws.accept()
        register = ws.scope["extensions"][RECEIVE_NOW]
        seen: list[tuple[str, str]] = []

        def now(text: str) -> bool:
            if text.startswith("now"):
                seen.append(("now", text))
                return True
            return False

        while len(seen) < len(texts):
            register(now)
            text = await ws.receive_text()
            register(None)
            seen.append(("asgi", text))
            await asyncio.sleep(0.01)  # work that waits: frames queue behind it
        await ws.send_text(json.dumps(seen))

    async with _serving(app) as url, websockets.connect(url) as client:
        for text in texts:
            await client.send(text)
        seen = json.loads(await client.recv())
    assert [text for _, text in seen] == texts
    assert seen[:2] == [["now", "now 1"], ["asgi", "later 1"]]


@contextlib.asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[str]:
    """``app`` as the one websocket route of a real uvicorn server on our protocol."""
    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[WebSocketRoute("/", app)]),
        port=port,
        ws=CoalescingWebSocketProtocol,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await serving
