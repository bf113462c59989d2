"""What every websocket endpoint shares: the handshake and the receive loop.

A session accepts the socket, checks the Origin (close 4403) and that its
client address holds fewer than ``[limits] websockets_per_address`` sockets
(close 4429), waits for a valid ``hello`` (close 4401 on a bad token or none
within the limit), then reads frames one by one. Bad frames get an error
frame and the connection stays open; a flood gets ``rate_limited`` errors
and, if it goes on, a 1008 close. Subclasses say what a hello means and what
each frame does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket

from gateway.address_limits import CLOSE_TOO_MANY_CONNECTIONS
from gateway.auth import Principal
from gateway.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    Connection,
)
from gateway.errors import GatewayError
from gateway.frames import FrameError, Hello, parse_hello
from gateway.origins import origin_allowed
from gateway.ratelimit import TokenBucket
from gateway.services import Services
from gateway.ws_protocol import RECEIVE_NOW

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_INTERNAL_ERROR = 1011


class Reject(Exception):
    """Ends the handshake with a close code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Session:
    staff = True
    """Agents, supervisors and bots; visitors are not staff."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.services: Services = websocket.app.state.services
        self.limits = self.services.settings.limits
        self.conn = Connection(
            websocket,
            self.services.hub,
            self.services.store,
            queue_size=self.limits.send_queue,
            staff=self.staff,
        )
        self.principal: Principal | None = None
        self._bucket = TokenBucket(self.limits.frames_per_second, self.limits.frame_burst)
        self._dropped = 0
        self._last_rate_error = -1.0

    async def run(self) -> None:
        ws = self.websocket
        await ws.accept()
        settings = self.services.settings
        if not origin_allowed(ws.headers, settings.allowed_origins, settings.public_url):
            await ws.close(CLOSE_FORBIDDEN, "origin not allowed")
            return
        routing = self.services.routing
        if routing is not None and routing.partitioned:  # its clients go elsewhere
            await ws.close(CLOSE_TRY_AGAIN, "this node is cut off from the cluster")
            return
        slots = self.services.address_limits.websockets
        address = ws.client.host if ws.client is not None else "unknown"
        if not slots.acquire(address):
            await ws.close(CLOSE_TOO_MANY_CONNECTIONS, "too many connections from this address")
            return
        try:
            await self._serve()
        finally:
            slots.release(address)

    async def _serve(self) -> None:
        self.conn.start()
        self.services.connections.add(self.conn)
        try:
            try:
                hello = await asyncio.wait_for(self._hello(), self.limits.hello_timeout_s)
                self.principal = await self.services.authenticate(hello.token)
                await self.on_hello(hello, self.principal)
            except TimeoutError:
                await self._reject(Reject(CLOSE_UNAUTHORIZED, "no hello in time"), "hello_timeout")
                return
            except (FrameError, GatewayError) as exc:
                await self._reject(Reject(CLOSE_UNAUTHORIZED, exc.message), exc.code)
                return
            except Reject as exc:
                await self._reject(exc, "forbidden" if exc.code == CLOSE_FORBIDDEN else "")
                return
            except _Disconnected:
                return
            await self._receive_loop()
        finally:
            self.services.connections.discard(self.conn)
            await self.on_disconnect()
            if self.conn.closing:  # let a queued close frame go out
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.conn.closed(), 2.0)
            await self.conn.stop()

    async def _reject(self, exc: Reject, code: str) -> None:
        self.conn.send(
            {"type": "error", "code": code or "unauthorized", "message": exc.message, "ref": None}
        )
        self.conn.close(exc.code, exc.message[:120])
        await self.conn.closed()

    async def _receive(self) -> str | None:
        """The next text frame; None for a binary one (answered already)."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise _Disconnected()
        text = message.get("text")
        if text is None:
            self.error("binary_not_supported", "frames must be JSON text, not binary")
            return None
        return str(text)

    async def _hello(self) -> Hello:
        while True:
            raw = await self._receive()
            if raw is not None:
                return parse_hello(raw)

    async def _receive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        register = self.websocket.scope.get("extensions", {}).get(RECEIVE_NOW)
        while not self.conn.closing:
            try:
                if register is not None:
                    register(self._receive_now)  # while this task waits for a frame
                raw = await self._receive()
            except _Disconnected:
                return
            finally:
                if register is not None:
                    register(None)
            if self._admit(loop.time()) and raw is not None:
                try:
                    frame = self.parse(raw)
                    if not self.handle_now(frame):
                        await self.handle(frame)
                except (FrameError, GatewayError) as exc:
                    self._refused(exc)

    def _receive_now(self, raw: str) -> bool:
        """A frame handled on the protocol's turn if ``handle_now`` can, with
        the same limits and errors as one through ``handle``."""
        if self.conn.closing:
            return False
        try:
            if not self._admit(asyncio.get_running_loop().time()):
                return True
            if not self.handle_now(self.parse(raw)):
                self._bucket.refund()  # ``handle`` takes it from the bucket again
                return False
        except (FrameError, GatewayError) as exc:
            self._refused(exc)
        except Exception:  # as from ``handle``: the session ends, the client may retry
            log.exception("%s: a frame failed", self.conn.id)
            self.conn.close(CLOSE_INTERNAL_ERROR, "internal error")
        return True

    def _admit(self, now: float) -> bool:
        if not self._bucket.allow(now):
            self._flooded(now)
            return False
        self._dropped = 0
        return True

    def _refused(self, exc: FrameError | GatewayError) -> None:
        if isinstance(exc, FrameError):
            self.conn.send(exc.to_frame())
        else:
            self.error(exc.code, exc.message)

    def _flooded(self, now: float) -> None:
        self._dropped += 1
        if self._dropped > self.limits.frame_burst:
            self.error("rate_limited", "too many frames; closing")
            self.conn.close(CLOSE_POLICY, "rate limit")
        elif now - self._last_rate_error >= 1.0:
            self._last_rate_error = now
            self.error(
                "rate_limited",
                f"more than {self.limits.frames_per_second:g} frames a second; "
                "frames are being dropped",
            )

    def error(self, code: str, message: str, ref: Any = None) -> None:
        self.conn.send({"type": "error", "code": code, "message": message, "ref": ref})

    async def shutdown(self) -> None:
        self.conn.close(CLOSE_GOING_AWAY, "server shutting down")

    # -- for subclasses ------------------------------------------------------

    async def on_hello(self, hello: Hello, principal: Principal) -> None:
        raise NotImplementedError

    def parse(self, raw: str) -> Any:
        """The frame ``raw`` holds (``FrameError`` if none)."""
        raise NotImplementedError

    def handle_now(self, frame: Any) -> bool:
        """Handle a frame if that needs no await; False leaves it to
        ``handle``, in order."""
        return False

    async def handle(self, frame: Any) -> None:
        """A frame ``handle_now`` left."""
        raise NotImplementedError

    async def on_disconnect(self) -> None:
        return None


class _Disconnected(Exception):
    pass
