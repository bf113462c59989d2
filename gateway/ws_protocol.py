"""uvicorn's websocket protocol, writing what one turn of the event loop sends
to a socket in one system call.

A writer batch acknowledges and delivers its messages in one turn: a visitor
with three messages in it gets three acks, its agent three deliveries. Each
``transport.write`` is a ``send`` on the socket, and on loopback or a LAN the
kernel's work per ``send`` (and the peer's wake-up per segment) costs more
than the frame's bytes. Frames written in the same turn are joined and
written at the start of the next turn; order is kept, and nothing waits
longer than that turn.

The protocol also offers the app a send that needs no await (the ASGI scope
extension ``SEND_NOW``): through ASGI every frame sent crosses Starlette's
and each middleware's ``send`` wrappers and uvicorn's ``send``, a chain of
coroutines per frame for what ends as a synchronous write; the gateway sends
two frames per message received (an ack and a delivery). Likewise a text
frame received can go to a handler the app registers (``RECEIVE_NOW``)
rather than through uvicorn's queue, a pause of reading, Starlette's
``receive`` and a wake of the app's task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

SEND_NOW = "switchboard.send_now"
"""Scope extension: ``send_now(text) -> bool`` frames ``text`` and writes it
on the caller's turn, or returns False when that would need a wait (the
socket not accepted yet, closing or closed, or its buffer full): the caller
then sends through ASGI, which waits or raises as the case needs."""

RECEIVE_NOW = "switchboard.receive_now"
"""Scope extension: ``receive_now(handler)`` registers ``handler(text) ->
bool`` (None unregisters). A text frame that arrives while no earlier one
waits in the queue for the app is offered to it; it returns False to leave
the frame to the app's ``receive``, as it would have gone without one."""


class CoalescingTransport:
    """A transport whose writes within one loop turn go out as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """``ws="websockets-sansio"`` over a :class:`CoalescingTransport`, with
    ``SEND_NOW`` and ``RECEIVE_NOW`` in each websocket's scope."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]
        self._text_handler: Callable[[str], bool] | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # else refused, and no app runs
            extensions = self.scope["extensions"]
            extensions[SEND_NOW] = self.send_now  # type: ignore[assignment]
            extensions[RECEIVE_NOW] = self.receive_now  # type: ignore[assignment]

    def receive_now(self, handler: Callable[[str], bool] | None) -> None:
        self._text_handler = handler

    def send_receive_event_to_app(self) -> None:
        handler = self._text_handler
        if (
            handler is not None
            and self.curr_msg_data_type == "text"
            and not self.close_sent
            and self.queue.empty()  # nothing ahead of it: the order is kept
        ):
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            with contextlib.suppress(UnicodeDecodeError):  # uvicorn answers it
                if handler(data.decode()):
                    self.frames = []
                    return
        super().send_receive_event_to_app()

    def send_now(self, text: str) -> bool:
        """What uvicorn's ``send`` does with a ``websocket.send`` of text
        when it need not wait; False when it would wait or refuse."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
        ):
            return False
        self.conn.send_text(text.encode())
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
