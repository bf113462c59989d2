"""The durable store of customers, conversations, messages, timeline and users.

All methods are coroutines. Writes that must be atomic run in one transaction;
messages are appended in batches (see ``writer.MessageWriter``) so that many
concurrent senders share one commit, which is what makes "durable before
acknowledged" affordable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conversations import schema as t
from conversations.batches import (
    BesideFailed,
    SentimentRecord,
    WriterConnection,
    append_batch,
    score_batch,
)
from conversations.engine import Engines, create_engines
from conversations.errors import (
    AlreadyAssigned,
    ConversationExists,
    ConversationNotFound,
    StaleFence,
    StoreError,
    UserExists,
)
from conversations.ids import new_id
from conversations.lifecycle import ConversationStatus, check_transition
from conversations.migrate import upgrade
from conversations.models import (
    JSON,
    AppendRequest,
    AppendResult,
    Conversation,
    Customer,
    Message,
    TimelineEvent,
    User,
)
from conversations.times import as_utc, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

SENTIMENT_FLUSH_S = 0.2
CHECKPOINT_EVERY_S = 0.5

OPEN_STATUSES = (ConversationStatus.QUEUED, ConversationStatus.OFFERED)


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _customer(row: Any, prefix: str = "") -> Customer:
    m = row._mapping
    return Customer(
        id=m[f"{prefix}id"],
        name=m[f"{prefix}name"],
        email=m[f"{prefix}email"],
        phone=m[f"{prefix}phone"],
        attributes=m[f"{prefix}attributes"] or {},
        created_at=_aware(m[f"{prefix}created_at"]) or utcnow(),
    )


def _message(row: Any) -> Message:
    m = row._mapping
    return Message(
        id=m["id"],
        conversation_id=m["conversation_id"],
        seq=m["seq"],
        sender_role=m["sender_role"],
        sender_id=m["sender_id"],
        sender_name=m["sender_name"],
        text=m["text"],
        channel=m["channel"],
        created_at=_aware(m["created_at"]) or utcnow(),
        client_msg_id=m["client_msg_id"],
        attributes=m["attributes"] or {},
        sentiment=(
            None
            if m["sentiment_score"] is None
            else {"score": m["sentiment_score"], "label": m["sentiment_label"]}
        ),
    )


def _user(row: Any) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        username=m["username"],
        role=m["role"],
        display_name=m["display_name"],
        password_hash=m["password_hash"],
        disabled=bool(m["disabled"]),
        skills=m["skills"] or {},
        capacity=m["capacity"] or {},
        queues=m["queues"],
        created_at=_aware(m["created_at"]) or utcnow(),
    )


_conversation_columns = [
    *t.conversations.c,
    *(c.label(f"cu_{c.name}") for c in t.customers.c),
]


def _conversation(row: Any) -> Conversation:
    m = row._mapping
    return Conversation(
        id=m["id"],
        channel=m["channel"],
        status=m["status"],
        queue=m["queue"],
        customer=_customer(row, "cu_"),
        subject=m["subject"],
        language=m["language"],
        priority=m["priority"],
        assigned_agent_id=m["assigned_agent_id"],
        last_seq=m["last_seq"],
        prechat=m["prechat"] or {},
        context=m["context"] or {},
        created_at=_aware(m["created_at"]) or utcnow(),
        updated_at=_aware(m["updated_at"]) or utcnow(),
        closed_at=_aware(m["closed_at"]),
        sentiment=m["sentiment"],
        case_id=m["case_id"],
    )


def _conversation_select() -> Any:
    return select(*_conversation_columns).select_from(
        t.conversations.join(t.customers, t.customers.c.id == t.conversations.c.customer_id)
    )


# The reads every websocket hello makes, built once: building a statement
# costs more than running it (SQLAlchemy derives a new one's cache key anew).
_CONVERSATION = _conversation_select().where(t.conversations.c.id == bindparam("id"))
_MESSAGES_AFTER = (
    select(t.messages)
    .where(t.messages.c.conversation_id == bindparam("id"), t.messages.c.seq > bindparam("after"))
    .order_by(t.messages.c.seq)
    .limit(bindparam("limit"))
)
_ASSIGNED_TO = (
    _conversation_select()
    .where(
        t.conversations.c.status == ConversationStatus.ASSIGNED.value,
        t.conversations.c.assigned_agent_id == bindparam("agent"),
    )
    .order_by(t.conversations.c.created_at.desc())
    .limit(bindparam("limit"))
)
_USER_BY_ID = select(t.users).where(t.users.c.id == bindparam("id"))
_USER_BY_NAME = select(t.users).where(t.users.c.username == bindparam("name"))


Beside = tuple[Callable[[Any], Any], "asyncio.Future[Any]"]


def _settle_beside(taken: Sequence[Beside], outcome: Sequence[Any] | BaseException) -> None:
    """From the writer thread: hand ``write_beside`` results (or the error)
    to their futures on the loop."""

    def settle() -> None:
        for i, (_, future) in enumerate(taken):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome[i])

    taken[0][1].get_loop().call_soon_threadsafe(settle)


class Store:
    """Async facade over the database; one per process."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self._batch_thread = ThreadPoolExecutor(1, thread_name_prefix="message-writer")
        self._writer = WriterConnection(engines.batch)
        """Used on the batch thread only."""
        self._sentiments: list[SentimentRecord] = []
        self._sentiments_in_flight = False
        self._sentiment_timer: asyncio.TimerHandle | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._beside: deque[Beside] = deque()
        """``write_beside`` work: appended on the loop, taken on the writer thread."""

    @classmethod
    async def open(cls, url: str, *, sqlite_synchronous: str = "FULL") -> Store:
        """Connect and bring the schema up to date (migrations run on start)."""
        engines = create_engines(url, sqlite_synchronous=sqlite_synchronous)
        store = cls(engines)
        async with engines.write.begin() as conn:
            await conn.run_sync(upgrade)
        if engines.checkpointer is not None:
            store._checkpoints = asyncio.create_task(store._checkpoint(), name="wal-checkpoint")
        return store

    async def _checkpoint(self) -> None:
        """Keep the WAL short, on a thread of its own (see engine.py)."""
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1, thread_name_prefix="wal-checkpoint") as thread:
            while True:
                await asyncio.sleep(CHECKPOINT_EVERY_S)
                try:
                    await loop.run_in_executor(thread, self._engines.checkpoint)
                except Exception as exc:  # busy or I/O trouble: try again later
                    log.warning("WAL checkpoint failed: %s", exc)

    @property
    def dialect(self) -> str:
        return self._engines.dialect

    @property
    def engines(self) -> Engines:
        """For companion stores (deliveries, routing state) sharing the database."""
        return self._engines

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        await self.flush_sentiments()
        self._batch_thread.submit(self._writer.close).result()
        self._batch_thread.shutdown(wait=True)
        await self._engines.dispose()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        await self._engines.read.scalar(text("SELECT 1"))

    # -- settings ---------------------------------------------------------

    async def secret(self, key: str) -> str:
        """Return a persistent random secret, creating it once (shared by all nodes)."""
        query = select(t.settings.c.value).where(t.settings.c.key == key)
        value = await self._engines.read.scalar(query)
        if value is not None:
            return str(value)
        candidate = secrets.token_urlsafe(48)
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(insert(t.settings).values(key=key, value=candidate))
            return candidate
        except IntegrityError:  # another node created it first
            return str(await self._engines.read.scalar(query))

    # -- customers --------------------------------------------------------

    async def find_or_create_customer(
        self,
        identities: Sequence[tuple[str, str]] = (),
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        attributes: JSON | None = None,
    ) -> Customer:
        """Map any known identity (email, phone, social id) to one customer.

        Two first contacts with one identity at once (two tabs, a provider's
        burst) both miss it and both insert it: the unique key refuses the
        second, which then finds the first's customer."""
        for attempt in range(3):
            try:
                return await self._find_or_create_customer(
                    identities, name=name, email=email, phone=phone, attributes=attributes
                )
            except IntegrityError:
                if attempt == 2 or not identities:
                    raise
        raise AssertionError("unreachable")

    async def _find_or_create_customer(
        self,
        identities: Sequence[tuple[str, str]],
        *,
        name: str | None,
        email: str | None,
        phone: str | None,
        attributes: JSON | None,
    ) -> Customer:
        async with self._engines.write.begin() as conn:
            customer_id = None
            if identities:
                clause = or_(
                    *(
                        and_(t.identities.c.kind == kind, t.identities.c.value == value)
                        for kind, value in identities
                    )
                )
                customer_id = await conn.scalar(
                    select(t.identities.c.customer_id).where(clause).limit(1)
                )
            if customer_id is None:
                customer_id = new_id("cu")
                await conn.execute(
                    insert(t.customers).values(
                        id=customer_id,
                        name=name,
                        email=email,
                        phone=phone,
                        attributes=attributes or {},
                        created_at=utcnow(),
                    )
                )
            else:
                changes = {
                    k: v for k, v in (("name", name), ("email", email), ("phone", phone)) if v
                }
                if changes:
                    await conn.execute(
                        update(t.customers).where(t.customers.c.id == customer_id).values(**changes)
                    )
            known = {
                (r.kind, r.value)
                for r in await conn.execute(
                    select(t.identities.c.kind, t.identities.c.value).where(
                        t.identities.c.customer_id == customer_id
                    )
                )
            }
            fresh = [
                {"kind": k, "value": v, "customer_id": customer_id}
                for k, v in dict.fromkeys(identities)
                if (k, v) not in known
            ]
            if fresh:
                await conn.execute(insert(t.identities), fresh)
            row = (
                await conn.execute(select(t.customers).where(t.customers.c.id == customer_id))
            ).one()
            return _customer(row)

    # -- conversations ----------------------------------------------------

    async def create_conversation(
        self,
        *,
        channel: str,
        customer_id: str,
        queue: str = "default",
        subject: str | None = None,
        language: str | None = None,
        priority: int = 0,
        prechat: JSON | None = None,
        context: JSON | None = None,
        conversation_id: str | None = None,
    ) -> Conversation:
        """A new queued conversation. ``conversation_id``: one the caller
        derived from its own idempotency key; ``ConversationExists`` when a
        conversation has it already (made by a concurrent call)."""
        now = utcnow()
        fixed = conversation_id is not None
        conversation_id = conversation_id or new_id("c")
        try:
            return await self._create_conversation(
                conversation_id,
                now,
                channel=channel,
                customer_id=customer_id,
                queue=queue,
                subject=subject,
                language=language,
                priority=priority,
                prechat=prechat,
                context=context,
            )
        except IntegrityError:
            if fixed and await self._engines.read.first(_CONVERSATION, {"id": conversation_id}):
                raise ConversationExists(conversation_id) from None
            raise

    async def _create_conversation(
        self,
        conversation_id: str,
        now: datetime,
        *,
        channel: str,
        customer_id: str,
        queue: str,
        subject: str | None,
        language: str | None,
        priority: int,
        prechat: JSON | None,
        context: JSON | None,
    ) -> Conversation:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.conversations).values(
                    id=conversation_id,
                    customer_id=customer_id,
                    channel=channel,
                    status=ConversationStatus.QUEUED.value,
                    queue=queue,
                    subject=subject,
                    language=language,
                    priority=priority,
                    assigned_agent_id=None,
                    last_seq=0,
                    prechat=prechat or {},
                    context=context or {},
                    sentiment=None,
                    created_at=now,
                    updated_at=now,
                    closed_at=None,
                )
            )
            await conn.execute(
                insert(t.participants).values(
                    conversation_id=conversation_id,
                    role="customer",
                    ref_id=customer_id,
                    joined_at=now,
                )
            )
            await self._event(conn, conversation_id, "created", customer_id, {"channel": channel})
            return await self._get(conn, conversation_id)

    async def get_conversation(self, conversation_id: str) -> Conversation:
        row = await self._engines.read.first(_CONVERSATION, {"id": conversation_id})
        if row is None:
            raise ConversationNotFound(conversation_id)
        return _conversation(row)

    async def get_conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        """The conversations among ``conversation_ids`` that exist, by id: one
        read for many (a burst of first messages needs each one's details)."""
        query = _conversation_select().where(t.conversations.c.id.in_(list(conversation_ids)))
        return {c.id: c for c in await self._engines.read.map(query, _conversation)}

    async def _get(self, conn: AsyncConnection, conversation_id: str) -> Conversation:
        row = (await conn.execute(_CONVERSATION, {"id": conversation_id})).first()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return _conversation(row)

    async def list_conversations(
        self,
        *,
        statuses: Iterable[str] | None = None,
        agent_id: str | None = None,
        include_unassigned: bool = False,
        customer_id: str | None = None,
        limit: int = 200,
    ) -> list[Conversation]:
        """Conversations filtered by status, by assignee (optionally plus the
        unassigned ones), or by customer; newest first."""
        query = _conversation_select()
        if statuses is not None:
            query = query.where(t.conversations.c.status.in_(list(statuses)))
        if agent_id is not None:
            mine = t.conversations.c.assigned_agent_id == agent_id
            if include_unassigned:
                mine = or_(mine, t.conversations.c.status.in_([s.value for s in OPEN_STATUSES]))
            query = query.where(mine)
        if customer_id is not None:
            query = query.where(t.conversations.c.customer_id == customer_id)
        query = query.order_by(t.conversations.c.created_at.desc()).limit(limit)
        return [_conversation(r) for r in await self._engines.read.all(query)]

    async def assigned_to(self, agent_id: str, limit: int = 200) -> list[Conversation]:
        """What the agent holds now, newest first."""
        params = {"agent": agent_id, "limit": limit}
        return [_conversation(r) for r in await self._engines.read.all(_ASSIGNED_TO, params)]

    async def change_status(
        self,
        conversation_id: str,
        target: ConversationStatus,
        *,
        actor: str | None,
        agent_id: str | None = None,
        queue: str | None = None,
        data: JSON | None = None,
        fence: int | None = None,
    ) -> Conversation:
        """Move a conversation through the lifecycle table, atomically.

        ``ASSIGNED`` succeeds only from an open status (queued or offered):
        two agents taking the same conversation cannot both win; the loser
        gets ``AlreadyAssigned``. With ``fence`` (a cluster router's token)
        the change is made only while that token is the current one, in the
        same transaction; otherwise ``StaleFence``.
        """
        now = utcnow()
        async with self._engines.write.begin() as conn:
            if fence is not None:
                await self._check_fence(conn, fence)
            current = await self._get(conn, conversation_id)
            if target is ConversationStatus.ASSIGNED and current.status not in OPEN_STATUSES:
                raise AlreadyAssigned(conversation_id, current.assigned_agent_id, current.status)
            check_transition(current.status, target.value)
            values: dict[str, Any] = {"status": target.value, "updated_at": now}
            if target is ConversationStatus.ASSIGNED:
                values["assigned_agent_id"] = agent_id
            elif target is ConversationStatus.QUEUED:
                values["assigned_agent_id"] = None
            if queue is not None:
                values["queue"] = queue
            if target is ConversationStatus.CLOSED:
                values["closed_at"] = now
            result = await conn.execute(
                update(t.conversations)
                .where(
                    t.conversations.c.id == conversation_id,
                    t.conversations.c.status == current.status,
                )
                .values(**values)
            )
            if result.rowcount != 1:  # lost a race with another node
                raise AlreadyAssigned(conversation_id, None, "taken")
            if target is ConversationStatus.ASSIGNED and agent_id is not None:
                await self._join(conn, conversation_id, "agent", agent_id, now)
            if current.assigned_agent_id and target is not ConversationStatus.ASSIGNED:
                await conn.execute(
                    update(t.participants)
                    .where(
                        t.participants.c.conversation_id == conversation_id,
                        t.participants.c.ref_id == current.assigned_agent_id,
                        t.participants.c.left_at.is_(None),
                    )
                    .values(left_at=now)
                )
            payload = dict(data or {})
            if agent_id is not None:
                payload["agent_id"] = agent_id
            if queue is not None:
                payload["queue"] = queue
            await self._event(conn, conversation_id, target.value, actor, payload)
            return await self._get(conn, conversation_id)

    _FENCE = "router-fence"

    async def _fence_value(self, conn: AsyncConnection, *, exclusive: bool) -> int:
        query = select(t.settings.c.value).where(t.settings.c.key == self._FENCE)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=not exclusive)
        value = await conn.scalar(query)
        return int(value) if value is not None else 0

    async def _check_fence(self, conn: AsyncConnection, token: int) -> None:
        # A shared row lock: a new router raising the fence waits for this
        # change to commit, and every change after it sees the new token.
        current = await self._fence_value(conn, exclusive=False)
        if current != token:
            raise StaleFence(token, current)

    async def raise_fence(self, token: int) -> int:
        """A new cluster router raises the fence to its token before it acts.

        Returns the fence it found: the router may route only if that is
        below ``token`` (the fence is ``token`` now). A higher one means a
        later router got there first; an equal one, that the token was
        granted twice (Redis lost its counter): either way it must not route.
        """
        async with self._engines.write.begin() as conn:
            # The row exists before it is locked: two first routers racing
            # to create it cannot both insert (the loser's insert does nothing).
            await conn.execute(self._insert_ignore().values(key=self._FENCE, value="0"))
            current = await self._fence_value(conn, exclusive=True)
            if current < token:
                await conn.execute(
                    update(t.settings)
                    .where(t.settings.c.key == self._FENCE)
                    .values(value=str(token))
                )
            return current

    def _insert_ignore(self) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` into settings, per dialect."""
        if self._engines.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(t.settings).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(t.settings).on_conflict_do_nothing()

    async def cluster_id(self) -> str:
        """The id of the cluster of nodes sharing this database (created once):
        it names their keys in Redis, so two clusters on one Redis stay apart."""
        key = "cluster-id"
        async with self._engines.write.begin() as conn:
            await conn.execute(self._insert_ignore().values(key=key, value=secrets.token_hex(8)))
            value = await conn.scalar(select(t.settings.c.value).where(t.settings.c.key == key))
        return str(value)

    async def _join(
        self, conn: AsyncConnection, conversation_id: str, role: str, ref_id: str, now: datetime
    ) -> None:
        exists = await conn.scalar(
            select(func.count()).where(
                t.participants.c.conversation_id == conversation_id,
                t.participants.c.role == role,
                t.participants.c.ref_id == ref_id,
            )
        )
        if exists:
            await conn.execute(
                update(t.participants)
                .where(
                    t.participants.c.conversation_id == conversation_id,
                    t.participants.c.role == role,
                    t.participants.c.ref_id == ref_id,
                )
                .values(joined_at=now, left_at=None)
            )
        else:
            await conn.execute(
                insert(t.participants).values(
                    conversation_id=conversation_id, role=role, ref_id=ref_id, joined_at=now
                )
            )

    def record_sentiment(
        self, message_id: str, conversation_id: str, score: float, label: str, summary: JSON
    ) -> None:
        """Queue a message's score and the conversation's rolling sentiment.

        Written within ``SENTIMENT_FLUSH_S`` on the writer thread, many records
        to a transaction: scores come with every message, and a transaction
        each would put an fsync per message in front of the message batches.
        Losing the last fraction of a second of scores in a crash costs
        nothing that matters; messages themselves are never delayed.
        """
        self._sentiments.append((message_id, conversation_id, score, label, summary))
        if self._sentiment_timer is None and not self._sentiments_in_flight:
            loop = asyncio.get_running_loop()
            self._sentiment_timer = loop.call_later(SENTIMENT_FLUSH_S, self._flush_sentiments)

    def _flush_sentiments(self) -> asyncio.Future[None] | None:
        self._sentiment_timer = None
        if self._sentiments_in_flight or not self._sentiments:
            return None
        batch, self._sentiments = self._sentiments, []
        self._sentiments_in_flight = True
        written = self.on_writer_thread(self._write_sentiments, batch)

        def settle(result: asyncio.Future[None]) -> None:
            self._sentiments_in_flight = False
            if result.exception() is not None:
                log.error("writing %d sentiment records failed: %s", len(batch), result.exception())
            if self._sentiments and self._sentiment_timer is None:
                loop = asyncio.get_running_loop()
                self._sentiment_timer = loop.call_later(SENTIMENT_FLUSH_S, self._flush_sentiments)

        written.add_done_callback(settle)
        return written

    async def flush_sentiments(self) -> None:
        """Write queued sentiment records now (at shutdown, and in tests)."""
        while self._sentiments or self._sentiments_in_flight:
            if self._sentiment_timer is not None:
                self._sentiment_timer.cancel()
            written = self._flush_sentiments()
            if written is not None:
                await asyncio.wait([written])
            else:
                await asyncio.sleep(0.01)  # another flush is finishing

    def _write_sentiments(self, records: list[SentimentRecord]) -> None:
        score_batch(self._writer, records)

    async def set_routing(
        self,
        conversation_id: str,
        *,
        priority: int | None = None,
        queue: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Conversation:
        """Change where and how urgently a conversation waits (no status change)."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if priority is not None:
            values["priority"] = priority
        if queue is not None:
            values["queue"] = queue
        async with self._engines.write.begin() as conn:
            current = await self._get(conn, conversation_id)
            if (queue is None or queue == current.queue) and (
                priority is None or priority == current.priority
            ):
                return current  # nothing changes: no timeline noise
            await conn.execute(
                update(t.conversations)
                .where(t.conversations.c.id == conversation_id)
                .values(**values)
            )
            data = {k: v for k, v in (("priority", priority), ("queue", queue)) if v is not None}
            await self._event(conn, conversation_id, "rerouted", actor, {**data, "reason": reason})
            return await self._get(conn, conversation_id)

    # -- messages ---------------------------------------------------------

    async def append_messages(
        self, requests: Sequence[AppendRequest]
    ) -> list[AppendResult | StoreError]:
        """Store a batch of messages in one transaction, in order.

        Each request gets the next ``seq`` of its conversation, unless it
        repeats an idempotency key already stored (or earlier in the batch),
        in which case the stored message comes back marked ``duplicate``.
        Per-request problems (unknown or closed conversation) come back as
        errors in the list; they do not fail the batch.
        """
        return await self.on_writer_thread(self.append_on_writer_thread, requests)

    def on_writer_thread(self, work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``work(*args)`` on the one thread that writes messages."""
        return asyncio.get_running_loop().run_in_executor(self._batch_thread, work, *args)

    def write_beside(self, work: Callable[[Any], T]) -> asyncio.Future[T]:
        """Run ``work(cursor)`` on the message writer's thread and connection,
        in the next message batch's transaction, or, when none is coming, in
        one of its own committed without an fsync (``WriterConnection.run``).

        For bookkeeping that goes with the messages (SLA clocks) and must not
        hold them up: a transaction of its own costs the writer a begin, a
        commit and, for each, the GIL won back from the event loop, and a
        second connection would wait for the writer's lock or make it wait.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._beside.append((work, future))
        self.on_writer_thread(self._write_beside_alone)
        return future

    def _take_beside(self) -> list[Beside]:
        taken: list[Beside] = []
        while self._beside:
            taken.append(self._beside.popleft())
        return taken

    def _write_beside_alone(self) -> None:
        """On the writer thread: what no message batch took along."""
        taken = self._take_beside()
        if not taken:
            return
        try:
            done = self._writer.run(
                lambda cursor: [work(cursor) for work, _ in taken], durable=False
            )
        except Exception as exc:
            _settle_beside(taken, exc)
        else:
            _settle_beside(taken, done)

    def append_on_writer_thread(
        self, requests: Sequence[AppendRequest]
    ) -> list[AppendResult | StoreError]:
        """``append_messages``, called on the writer thread itself; takes the
        waiting ``write_beside`` work along into the same transaction."""
        taken = self._take_beside()
        if taken:
            works = [work for work, _ in taken]
            try:
                results, done = append_batch(self._writer, requests, utcnow(), _message, works)
            except BesideFailed as failed:
                _settle_beside(taken, failed.__cause__ or failed)
            except Exception as exc:  # the database failed: the writer reports it
                _settle_beside(taken, exc)
                raise
            else:
                _settle_beside(taken, done)
                return results
        return append_batch(self._writer, requests, utcnow(), _message)[0]

    async def messages_after(
        self, conversation_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[Message]:
        params = {"id": conversation_id, "after": after_seq, "limit": limit}
        return [_message(r) for r in await self._engines.read.all(_MESSAGES_AFTER, params)]

    async def message(self, message_id: str) -> Message | None:
        row = await self._engines.read.first(
            select(t.messages).where(t.messages.c.id == message_id)
        )
        return _message(row) if row else None

    async def message_by_external_id(self, channel: str, external_id: str) -> Message | None:
        query = select(t.messages).where(
            t.messages.c.channel == channel, t.messages.c.external_id == external_id
        )
        row = await self._engines.read.first(query)
        return _message(row) if row else None

    # -- timeline ---------------------------------------------------------

    async def _event(
        self,
        conn: AsyncConnection,
        conversation_id: str,
        kind: str,
        actor: str | None,
        data: JSON,
    ) -> None:
        await conn.execute(
            insert(t.timeline).values(
                conversation_id=conversation_id,
                type=kind,
                actor=actor,
                data=data,
                created_at=utcnow(),
            )
        )

    async def add_event(
        self, conversation_id: str, kind: str, actor: str | None, data: JSON | None = None
    ) -> None:
        async with self._engines.write.begin() as conn:
            await self._event(conn, conversation_id, kind, actor, data or {})

    async def timeline(self, conversation_id: str) -> list[TimelineEvent]:
        query = (
            select(t.timeline)
            .where(t.timeline.c.conversation_id == conversation_id)
            .order_by(t.timeline.c.id)
        )
        return [
            TimelineEvent(
                id=r.id,
                conversation_id=r.conversation_id,
                type=r.type,
                actor=r.actor,
                data=r.data or {},
                created_at=_aware(r.created_at) or utcnow(),
            )
            for r in await self._engines.read.all(query)
        ]

    # -- users ------------------------------------------------------------

    async def create_user(
        self,
        *,
        username: str,
        role: str,
        password_hash: str,
        display_name: str | None = None,
        skills: dict[str, int] | None = None,
        capacity: JSON | None = None,
        queues: list[str] | None = None,
    ) -> User:
        values = {
            "id": new_id("u"),
            "username": username,
            "role": role,
            "display_name": display_name,
            "password_hash": password_hash,
            "disabled": False,
            "skills": skills or {},
            "capacity": capacity or {},
            "queues": queues,
            "created_at": utcnow(),
        }
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(insert(t.users).values(**values))
        except IntegrityError:
            raise UserExists(username) from None
        user = await self.user_by_name(username)
        assert user is not None
        return user

    async def update_user(self, user_id: str, **values: Any) -> User | None:
        allowed = {"role", "display_name", "password_hash", "disabled", "skills", "capacity"}
        allowed.add("queues")
        unknown = set(values) - allowed
        if unknown:
            raise StoreError(f"cannot update user fields {sorted(unknown)}")
        async with self._engines.write.begin() as conn:
            if values:
                await conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
            row = (await conn.execute(select(t.users).where(t.users.c.id == user_id))).first()
        return _user(row) if row else None

    async def user_by_name(self, username: str) -> User | None:
        return await self._one_user(_USER_BY_NAME, {"name": username})

    async def user_by_id(self, user_id: str) -> User | None:
        return await self._one_user(_USER_BY_ID, {"id": user_id})

    async def _one_user(self, query: Any, params: dict[str, str]) -> User | None:
        row = await self._engines.read.first(query, params)
        return _user(row) if row else None

    async def list_users(self) -> list[User]:
        rows = await self._engines.read.all(select(t.users).order_by(t.users.c.username))
        return [_user(r) for r in rows]
