"""Live fan-out of events to the websockets that watch a topic.

Topics are ``conv:<id>`` (messages, status and typing of one conversation)
and ``user:<id>`` (offers and assignments of one agent). The in-process hub
delivers on this node; ``RedisHub`` relays through Redis pub/sub so that a
visitor on one node and an agent on another see each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

log = logging.getLogger(__name__)

EventKind = Literal["frame", "message", "attach", "detach", "close", "reconnect"]


@dataclass(frozen=True, slots=True)
class Event:
    """What travels on a topic.

    ``frame`` and ``message`` carry a serialised frame for the client
    (``message`` also its ``seq``, so receivers drop repeats and fill gaps);
    ``attach``/``detach`` tell an agent's connections to start or stop
    following a conversation; ``close`` closes them (4401, the reason in
    ``frame``) on every node, and ``reconnect`` closes them with 1012 so that
    clients come back (an account's role changed, and with it what it sees).
    """

    topic: str
    kind: EventKind
    frame: str = ""
    conversation_id: str | None = None
    seq: int | None = None
    origin: str | None = None
    staff_only: bool = False
    """Not for the customer's own connections (e.g. sentiment scores)."""

    def encode(self) -> bytes:
        return orjson.dumps(
            [
                self.topic,
                self.kind,
                self.frame,
                self.conversation_id,
                self.seq,
                self.origin,
                self.staff_only,
            ]
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Event:
        topic, kind, frame, conversation_id, seq, origin, staff_only = orjson.loads(raw)
        return cls(topic, kind, frame, conversation_id, seq, origin, staff_only)


class Subscriber(Protocol):
    def deliver(self, event: Event) -> None: ...


SUPERVISORS = "supervisors"
"""Alerts and live operations state for supervisors and admins."""


def conv_topic(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def user_topic(user_id: str) -> str:
    return f"user:{user_id}"


class Hub:
    """In-process fan-out; the embedded default."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[Subscriber]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._subscribers[topic].add(subscriber)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[topic]

    def publish(self, event: Event) -> None:
        self._fan_out(event)

    def _fan_out(self, event: Event) -> None:
        for subscriber in tuple(self._subscribers.get(event.topic, ())):
            subscriber.deliver(event)

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._subscribers


class RedisHub(Hub):
    """Fan-out across nodes through Redis pub/sub.

    Each node subscribes in Redis only to the topics its own websockets watch,
    and delivers what it receives locally. Publishing goes through Redis only
    (not also locally), so every subscriber sees one copy in one order.
    """

    PREFIX = "switchboard:"

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[Event] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Redis being down at start is reported by /readyz, not fatal: the
        # reader keeps retrying and resubscribes when Redis is back.
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read(), name="redis-hub-reader")
        self._writer = asyncio.create_task(self._write(), name="redis-hub-writer")

    async def close(self) -> None:
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    async def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        first = topic not in self._subscribers
        await super().subscribe(topic, subscriber)
        if first:
            try:
                await self._pubsub.subscribe(self.PREFIX + topic)
            except Exception:  # resubscribed by the reader once Redis is back
                log.warning("Redis unavailable; %s will be subscribed on reconnect", topic)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        super().unsubscribe(topic, subscriber)
        if topic not in self._subscribers and self._pubsub is not None:
            task = asyncio.get_running_loop().create_task(
                self._pubsub.unsubscribe(self.PREFIX + topic)
            )
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def publish(self, event: Event) -> None:
        self._outbox.put_nowait(event)

    async def _write(self) -> None:
        while True:
            event = await self._outbox.get()
            batch = [event]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.publish(self.PREFIX + item.topic, item.encode())
                    await pipe.execute()
            except Exception:
                # Receivers fill the gap from the store when the next
                # message of the conversation arrives.
                log.exception("publishing %d events to Redis failed", len(batch))

    async def _read(self) -> None:
        while True:
            try:
                channels = [self.PREFIX + "node", *(self.PREFIX + t for t in self._subscribers)]
                # A placeholder channel keeps the connection in subscribed mode.
                await self._pubsub.subscribe(*channels)
                async for item in self._pubsub.listen():
                    if item.get("type") == "message":
                        self._fan_out(Event.decode(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Redis hub reader failed; retrying")
                await asyncio.sleep(1.0)
