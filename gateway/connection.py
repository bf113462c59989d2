"""One websocket client: an ordered outbox and the conversations it follows.

Everything sent to a client goes through one queue and one sender task, so
frames never interleave. Message frames carry ``seq``; the connection
remembers the last ``seq`` it sent per conversation, drops repeats and, when
it sees a jump, fills the gap from the store first. That one rule gives
resume-after-reconnect its guarantee (nothing lost, nothing doubled): follow
the topic first, then replay from the store, and let the rule sort out the
overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from conversations import Store
from conversations.ids import new_id
from gateway import tasks
from gateway.frames import dumps
from gateway.hub import Event, Hub, conv_topic
from gateway.ws_protocol import SEND_NOW

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_RECONNECT = 1012
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHORIZED = 4401


@dataclass(frozen=True, slots=True)
class _Sync:
    conversation_id: str


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class Connection:
    def __init__(
        self, websocket: WebSocket, hub: Hub, store: Store, *, queue_size: int, staff: bool
    ) -> None:
        # Unique across nodes: ``origin`` on an event from another node must
        # never match a local connection by accident.
        self.id = new_id("ws")
        self.websocket = websocket
        self._hub = hub
        self._store = store
        # A deque and one waiter rather than asyncio.Queue: every frame to
        # every client passes here, and the queue's bookkeeping showed up.
        self._outbox: deque[str | Event | _Sync | _Close] = deque()
        self._limit = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._last_seq: dict[str, int] = {}
        self._topics: set[str] = set()
        self._sender: asyncio.Task[None] | None = None
        self.closing = False
        self.staff = staff
        self._held: list[str | Event | _Sync] | None = None
        self._send_now: Callable[[str], bool] | None = websocket.scope.get("extensions", {}).get(
            SEND_NOW
        )
        """Sends on the caller's turn when the socket takes the frame without
        waiting: two wakes of the sender task per message (the ack, the
        delivery) were a tenth of the gateway's work. Absent under another
        server than ours, where the sender task sends everything."""

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._sender = asyncio.create_task(self._run(), name=f"sender-{self.id}")

    async def stop(self) -> None:
        """Forget every topic and stop sending (the socket is gone or going)."""
        self.closing = True
        for topic in self._topics:
            self._hub.unsubscribe(topic, self)
        self._topics.clear()
        await tasks.stop(self._sender)

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued have been sent."""
        if self.closing:
            return
        self.closing = True
        if len(self._outbox) >= self._limit:
            self._abort(code, reason)
        else:
            self._push(_Close(code, reason))

    async def closed(self) -> None:
        """Wait until the sender has finished (after ``close``)."""
        if self._sender is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    def _abort(self, code: int, reason: str) -> None:
        if self._sender is not None:
            self._sender.cancel()
        task = asyncio.get_running_loop().create_task(self._close_socket(code, reason))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _close_socket(self, code: int, reason: str) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.websocket.close(code, reason)

    # -- what goes out ------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> None:
        self._put(dumps(frame))

    def deliver(self, event: Event) -> None:
        """Called by the hub; must not block."""
        if event.origin == self.id and (event.kind == "frame" or self._own_message(event)):
            return  # our own typing indicator, or our own message noted
        if event.staff_only and not self.staff:
            return
        if event.kind in ("close", "reconnect"):
            self.close(
                CLOSE_UNAUTHORIZED if event.kind == "close" else CLOSE_RECONNECT, event.frame
            )
            return
        self._put(event)

    def _own_message(self, event: Event) -> bool:
        """Note the ``seq`` of a message this connection sent, if it is next
        and nothing waits ahead of it: the sender has its ack, so there is
        nothing to send, and noting it here spares a wake of the sender task
        per message. Otherwise the sender task sorts it out in order."""
        cid, seq = event.conversation_id, event.seq
        if event.kind != "message" or cid is None or self._outbox or self._held is not None:
            return False
        if seq is None or self._last_seq.get(cid) != seq - 1:
            return False
        self._last_seq[cid] = seq
        return True

    def hold(self) -> None:
        """Keep what the hub delivers until ``release`` (the handshake is not
        done yet, and its reply must come first)."""
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for item in held:
            self._put(item)

    def _put(self, item: str | Event | _Sync) -> None:
        if self.closing:
            return
        if self._held is not None and not isinstance(item, str):
            self._held.append(item)
            return
        if len(self._outbox) >= self._limit:
            log.warning("%s: client is too slow; disconnecting", self.id)
            self.closing = True
            self._abort(CLOSE_TRY_AGAIN, "too slow")
        else:
            self._push(item)

    def _push(self, item: str | Event | _Sync | _Close) -> None:
        waiter = self._waiter
        parked = waiter is not None and not waiter.done()
        if parked and not self._outbox and self._send_now is not None:
            text = self._at_once(item)
            if text == "" or (text and self._send_now(text)):
                return
            if text is not None:  # counted as sent: the sender task sends it as it is
                item = text
        self._outbox.append(item)
        if parked:
            waiter.set_result(None)  # type: ignore[union-attr]

    def _at_once(self, item: str | Event | _Sync | _Close) -> str | None:
        """The frame to send for ``item`` ("" for nothing) when that needs no
        await but the send; None when it needs the sender task (a gap to
        fill from the store, a follow, a close)."""
        if isinstance(item, str):
            return item
        if not isinstance(item, Event):
            return None
        if item.kind == "frame":
            return item.frame
        if item.kind != "message":
            return None
        cid, seq = item.conversation_id, item.seq
        if cid is None or seq is None or cid not in self._last_seq:
            return ""
        last = self._last_seq[cid]
        if seq <= last:
            return ""
        if seq > last + 1:
            return None  # a gap: filled from the store first
        self._last_seq[cid] = seq
        return item.frame if item.origin != self.id else ""

    async def listen(self, topic: str) -> None:
        """Receive a topic's frames (no ``seq`` bookkeeping)."""
        if topic not in self._topics:
            self._topics.add(topic)
            await self._hub.subscribe(topic, self)

    async def follow(
        self, conversation_id: str, after_seq: int, *, last_seq: int | None = None
    ) -> None:
        """Start delivering a conversation's messages with ``seq > after_seq``;
        a no-op for one already followed (what was sent stays sent).

        ``last_seq`` is the conversation's last ``seq`` as read *after* this
        connection began listening to its topic: anything later comes live,
        so a client that has it all needs nothing from the store.
        """
        if conversation_id in self._last_seq:
            return
        self._last_seq[conversation_id] = after_seq
        await self.listen(conv_topic(conversation_id))
        if last_seq is None or after_seq < last_seq:
            self._put(_Sync(conversation_id))

    def unfollow(self, conversation_id: str) -> None:
        topic = conv_topic(conversation_id)
        self._last_seq.pop(conversation_id, None)
        if topic in self._topics:
            self._topics.discard(topic)
            self._hub.unsubscribe(topic, self)

    def follows(self, conversation_id: str) -> bool:
        return conversation_id in self._last_seq

    # -- the sender task ----------------------------------------------------

    async def _run(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while True:
                if not self._outbox:
                    self._waiter = loop.create_future()
                    await self._waiter
                    continue
                item = self._outbox.popleft()
                text = self._at_once(item)
                if text:
                    await self._send(text)
                elif text is not None:
                    continue
                elif isinstance(item, Event):
                    await self._event(item)
                elif isinstance(item, _Sync):
                    await self._catch_up(item.conversation_id, None)
                elif isinstance(item, _Close):
                    await self._close_socket(item.code, item.reason)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send
            log.debug("%s: sender stopped: %r", self.id, exc)
            self.closing = True

    async def _event(self, event: Event) -> None:
        """What ``_at_once`` left to the sender task."""
        cid, seq = event.conversation_id, event.seq
        if event.kind == "message" and cid is not None and seq is not None:
            await self._catch_up(cid, seq - 1)  # the gap before it
            if cid in self._last_seq:
                self._last_seq[cid] = seq
                if event.origin != self.id:  # the sender has its ack instead
                    await self._send(event.frame)
        elif event.kind == "attach" and cid:
            await self.follow(cid, seq or 0)
        elif event.kind == "detach" and cid:
            self.unfollow(cid)

    async def _send(self, text: str) -> None:
        if self._send_now is None or not self._send_now(text):
            await self.websocket.send_text(text)  # waits, or raises if the socket is gone

    async def _catch_up(self, conversation_id: str, upto: int | None) -> None:
        """Send stored messages after the last one sent, up to ``upto``."""
        while conversation_id in self._last_seq:
            last = self._last_seq[conversation_id]
            if upto is not None and last >= upto:
                return
            page = await self._store.messages_after(conversation_id, last, limit=500)
            for message in page:
                if upto is not None and message.seq > upto:
                    return
                self._last_seq[conversation_id] = message.seq
                await self._send(dumps(message.to_wire()))
            if len(page) < 500:
                return
