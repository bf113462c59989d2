"""The channels' companion store: what the gateway must remember about provider traffic.

Beside the conversation store, sharing its database (``Store.engines``):

- outbound deliveries: one record per agent/bot reply sent on a channel, with
  the provider's id for it, its status, attempts, last error and whether it
  ended as a dead letter;
- the email thread index: every Message-ID we received or sent, mapped to its
  conversation, so In-Reply-To/References find the conversation again and our
  replies can carry the whole thread;
- plus-address reply tokens (``support+<token>@...``), one per conversation;
- opt-outs (SMS STOP), per channel address;
- customer merge, which moves identities, conversations and opt-outs.

Statuses only move forward (``STATUS_RANK``): a late "sent" report cannot undo
"delivered", and failure is final.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from conversations import schema as t
from conversations.engine import Engines
from conversations.errors import StoreError
from conversations.models import Customer
from conversations.store import _customer
from conversations.times import as_utc as _aware
from conversations.times import utcnow

STATUS_RANK = {
    "queued": 0,
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "undelivered": 4,
    "failed": 4,
}
FINAL_STATUSES = frozenset({"failed", "undelivered"})
THREAD_REFERENCES_MAX = 20


class CustomerNotFound(StoreError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")
        self.customer_id = customer_id


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    conversation_id: str
    channel: str
    recipient: str
    provider_message_id: str | None
    status: str
    attempts: int
    error_code: str | None
    last_error: str | None
    dead_letter: bool
    created_at: datetime
    updated_at: datetime

    def to_frame(self) -> dict[str, Any]:
        """The ``delivery`` frame agents get (docs/channels.md)."""
        frame: dict[str, Any] = {
            "type": "delivery",
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "channel": self.channel,
            "status": self.status,
            "provider_message_id": self.provider_message_id,
            "attempts": self.attempts,
            "dead_letter": self.dead_letter,
        }
        if self.status in FINAL_STATUSES or self.last_error:
            frame["error"] = {
                "code": self.error_code or "delivery_failed",
                "message": self.last_error or f"the provider reported {self.status}",
            }
        return frame


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        message_id=m["message_id"],
        conversation_id=m["conversation_id"],
        channel=m["channel"],
        recipient=m["recipient"],
        provider_message_id=m["provider_message_id"],
        status=m["status"],
        attempts=m["attempts"],
        error_code=m["error_code"],
        last_error=m["last_error"],
        dead_letter=bool(m["dead_letter"]),
        created_at=_aware(m["created_at"]),
        updated_at=_aware(m["updated_at"]),
    )


@dataclass(frozen=True, slots=True)
class OptOutRecord:
    channel: str
    address: str
    customer_id: str | None
    keyword: str
    created_at: datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "address": self.address,
            "keyword": self.keyword,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


class DeliveryStore:
    """Async access to the channel tables; one per process, beside ``Store``."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    # -- deliveries -------------------------------------------------------

    async def create_delivery(
        self,
        *,
        message_id: str,
        conversation_id: str,
        channel: str,
        recipient: str,
        status: str = "queued",
        error_code: str | None = None,
        last_error: str | None = None,
        dead_letter: bool = False,
    ) -> Delivery:
        """Record an outbound message; a second call for the same message returns the first."""
        now = utcnow()
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(t.deliveries).values(
                        message_id=message_id,
                        conversation_id=conversation_id,
                        channel=channel,
                        recipient=recipient,
                        provider_message_id=None,
                        status=status,
                        attempts=0,
                        error_code=error_code,
                        last_error=last_error,
                        dead_letter=dead_letter,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass
        found = await self.delivery(message_id)
        assert found is not None
        return found

    async def unfinished(self, channels: Sequence[str], since: datetime) -> list[str]:
        """Agent and bot replies on these channels whose send never finished
        (no record, or queued with no attempt counted): the process stopped
        before they went out. Oldest first."""
        m, d = t.messages, t.deliveries
        query = (
            select(m.c.id)
            .select_from(m.outerjoin(d, d.c.message_id == m.c.id))
            .where(
                m.c.sender_role.in_(["agent", "bot"]),
                m.c.channel.in_(list(channels)),
                m.c.created_at >= since,
                or_(
                    d.c.message_id.is_(None),
                    and_(d.c.attempts == 0, d.c.dead_letter.is_(False)),
                ),
            )
            .order_by(m.c.created_at, m.c.seq)
        )
        return [row.id for row in await self._engines.read.all(query)]

    async def delivery(self, message_id: str) -> Delivery | None:
        query = select(t.deliveries).where(t.deliveries.c.message_id == message_id)
        row = await self._engines.read.first(query)
        return _delivery(row) if row else None

    async def deliveries_for(self, conversation_id: str) -> list[Delivery]:
        query = (
            select(t.deliveries)
            .where(t.deliveries.c.conversation_id == conversation_id)
            .order_by(t.deliveries.c.created_at)
        )
        return [_delivery(r) for r in await self._engines.read.all(query)]

    async def finish_send(
        self,
        message_id: str,
        *,
        attempts: int,
        provider_message_id: str | None = None,
        status: str,
        error_code: str | None = None,
        last_error: str | None = None,
        dead_letter: bool = False,
    ) -> Delivery:
        """Record how a send ended: accepted by the provider, or given up (dead letter).

        A status report that raced ahead of this (the provider answered the
        status callback before we stored its id) is not undone.
        """
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.deliveries).where(t.deliveries.c.message_id == message_id)
                )
            ).one()
            current = _delivery(row)
            new_status = _forward(current.status, status)
            await conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.message_id == message_id)
                .values(
                    attempts=attempts,
                    provider_message_id=provider_message_id or current.provider_message_id,
                    status=new_status,
                    error_code=error_code,
                    last_error=last_error,
                    dead_letter=dead_letter,
                    updated_at=utcnow(),
                )
            )
            row = (
                await conn.execute(
                    select(t.deliveries).where(t.deliveries.c.message_id == message_id)
                )
            ).one()
            return _delivery(row)

    async def update_status(
        self,
        channel: str,
        provider_message_id: str,
        status: str,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Delivery | None:
        """Apply a provider's status report; ``None`` when the id is not one of ours.

        Returns the delivery only when its status changed (a repeated or
        stale report changes nothing and announces nothing).
        """
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.deliveries).where(
                        t.deliveries.c.channel == channel,
                        t.deliveries.c.provider_message_id == provider_message_id,
                    )
                )
            ).first()
            if row is None:
                return None
            current = _delivery(row)
            new_status = _forward(current.status, status)
            if new_status == current.status:
                return None
            values: dict[str, Any] = {"status": new_status, "updated_at": utcnow()}
            if new_status in FINAL_STATUSES:
                values["error_code"] = error_code or new_status
                values["last_error"] = error_message or f"the provider reported {new_status}"
                values["dead_letter"] = True
            await conn.execute(
                update(t.deliveries)
                .where(t.deliveries.c.message_id == current.message_id)
                .values(**values)
            )
            row = (
                await conn.execute(
                    select(t.deliveries).where(t.deliveries.c.message_id == current.message_id)
                )
            ).one()
            return _delivery(row)

    async def mark_read_until(
        self, channel: str, recipient: str, watermark: datetime
    ) -> list[Delivery]:
        """A read receipt with a watermark (Messenger): every message to ``recipient``
        sent at or before it has been read."""
        query = select(t.deliveries).where(
            t.deliveries.c.channel == channel,
            t.deliveries.c.recipient == recipient,
            t.deliveries.c.created_at <= watermark,
            t.deliveries.c.status.in_(["sent", "delivered"]),
        )
        async with self._engines.write.begin() as conn:
            rows = [_delivery(r) for r in await conn.execute(query)]
            if rows:
                await conn.execute(
                    update(t.deliveries)
                    .where(t.deliveries.c.message_id.in_([d.message_id for d in rows]))
                    .values(status="read", updated_at=utcnow())
                )
            changed = select(t.deliveries).where(
                t.deliveries.c.message_id.in_([d.message_id for d in rows])
            )
            return [_delivery(r) for r in await conn.execute(changed)] if rows else []

    # -- email threads ----------------------------------------------------

    async def index_email(
        self,
        message_id_header: str,
        conversation_id: str,
        *,
        message_id: str | None,
        inbound: bool,
    ) -> None:
        """Remember that ``message_id_header`` belongs to ``conversation_id`` (first wins)."""
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(t.email_threads).values(
                        message_id_header=message_id_header[:500],
                        conversation_id=conversation_id,
                        message_id=message_id,
                        inbound=inbound,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            pass

    async def conversation_for_email(self, message_ids: Sequence[str]) -> str | None:
        """The conversation of the most recent of ``message_ids`` we know."""
        wanted = [m[:500] for m in message_ids if m]
        if not wanted:
            return None
        query = (
            select(t.email_threads.c.conversation_id)
            .where(t.email_threads.c.message_id_header.in_(wanted))
            .order_by(t.email_threads.c.created_at.desc())
            .limit(1)
        )
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    async def email_thread(self, conversation_id: str) -> tuple[str | None, tuple[str, ...]]:
        """``(in_reply_to, references)`` for our next mail in the conversation: the
        latest customer Message-ID and the thread's ids, oldest first (at most
        ``THREAD_REFERENCES_MAX``, keeping the first, as RFC 5322 suggests)."""
        query = (
            select(t.email_threads.c.message_id_header, t.email_threads.c.inbound)
            .where(t.email_threads.c.conversation_id == conversation_id)
            .order_by(t.email_threads.c.created_at)
        )
        rows = await self._engines.read.all(query)
        ids = [r.message_id_header for r in rows]
        inbound = [r.message_id_header for r in rows if r.inbound]
        if len(ids) > THREAD_REFERENCES_MAX:
            ids = [ids[0], *ids[-(THREAD_REFERENCES_MAX - 1) :]]
        return (inbound[-1] if inbound else None), tuple(ids)

    # -- reply tokens -----------------------------------------------------

    async def reply_token(self, conversation_id: str) -> str:
        """The conversation's plus-address token, made on first use."""
        query = select(t.reply_tokens.c.token).where(
            t.reply_tokens.c.conversation_id == conversation_id
        )
        found = await self._engines.read.scalar(query)
        if found is not None:
            return str(found)
        token = secrets.token_hex(10)
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(t.reply_tokens).values(token=token, conversation_id=conversation_id)
                )
            return token
        except IntegrityError:  # made concurrently
            return str(await self._engines.read.scalar(query))

    async def conversation_for_token(self, token: str) -> str | None:
        query = select(t.reply_tokens.c.conversation_id).where(
            t.reply_tokens.c.token == token.lower()
        )
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    # -- opt-outs ---------------------------------------------------------

    async def opt_out(
        self, channel: str, address: str, customer_id: str | None, keyword: str
    ) -> None:
        """Record that ``address`` wants no more messages on ``channel`` (idempotent)."""
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(t.opt_outs).values(
                        channel=channel,
                        address=address,
                        customer_id=customer_id,
                        keyword=keyword,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            pass

    async def opt_in(self, channel: str, address: str) -> None:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                t.opt_outs.delete().where(
                    t.opt_outs.c.channel == channel, t.opt_outs.c.address == address
                )
            )

    async def opted_out(self, channel: str, address: str) -> bool:
        query = select(t.opt_outs.c.keyword).where(
            t.opt_outs.c.channel == channel, t.opt_outs.c.address == address
        )
        return await self._engines.read.scalar(query) is not None

    async def opt_outs_of(self, customer_id: str) -> list[OptOutRecord]:
        query = select(t.opt_outs).where(t.opt_outs.c.customer_id == customer_id)
        return [
            OptOutRecord(r.channel, r.address, r.customer_id, r.keyword, _aware(r.created_at))
            for r in await self._engines.read.all(query)
        ]

    # -- customers --------------------------------------------------------

    async def identities_of(self, customer_id: str) -> list[tuple[str, str]]:
        query = (
            select(t.identities.c.kind, t.identities.c.value)
            .where(t.identities.c.customer_id == customer_id)
            .order_by(t.identities.c.kind, t.identities.c.value)
        )
        return [(r.kind, r.value) for r in await self._engines.read.all(query)]

    async def customer(self, customer_id: str) -> Customer | None:
        query = select(t.customers).where(t.customers.c.id == customer_id)
        row = await self._engines.read.first(query)
        return _customer(row) if row else None

    async def customer_for_identity(self, kind: str, value: str) -> str | None:
        query = select(t.identities.c.customer_id).where(
            t.identities.c.kind == kind, t.identities.c.value == value
        )
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    async def last_customer_address(self, conversation_id: str) -> str | None:
        """The address the customer last wrote from in the conversation (the
        ``from`` the channel runtime keeps in each inbound message's attributes)."""
        query = (
            select(t.messages.c.attributes)
            .where(
                t.messages.c.conversation_id == conversation_id,
                t.messages.c.sender_role == "customer",
            )
            .order_by(t.messages.c.seq.desc())
            .limit(50)
        )
        for (attributes,) in await self._engines.read.all(query):
            address = (attributes or {}).get("from")
            if isinstance(address, str) and address:
                return address
        return None

    async def merge_customers(self, keep_id: str, other_id: str) -> None:
        """Move everything of customer ``other_id`` to ``keep_id``, in one transaction.

        Every row of every table with a ``customer_id`` moves (identities,
        conversations, opt-outs, cases, ...), and so do the customer
        participant rows; blank name/email/phone of the kept customer are filled
        from the other; the other stays as a tombstone whose attributes say
        ``merged_into`` so old references still resolve.

        Raises:
            CustomerNotFound: either id is unknown.
            StoreError: merging a customer into itself, or one already merged.
        """
        if keep_id == other_id:
            raise StoreError("cannot merge a customer into itself")
        async with self._engines.write.begin() as conn:
            rows = {
                r.id: r
                for r in await conn.execute(
                    select(t.customers).where(t.customers.c.id.in_([keep_id, other_id]))
                )
            }
            for cid in (keep_id, other_id):
                if cid not in rows:
                    raise CustomerNotFound(cid)
            keep, other = rows[keep_id], rows[other_id]
            for row in (keep, other):
                if (row.attributes or {}).get("merged_into"):
                    raise StoreError(f"customer {row.id} was already merged")
            # Every record of the customer follows: identities, conversations,
            # opt-outs, and what other packages keep on the same metadata
            # (cases, entitlements, appointments, surveys, device alerts).
            for table in t.metadata.sorted_tables:
                if table is not t.customers and "customer_id" in table.c:
                    await conn.execute(
                        update(table)
                        .where(table.c.customer_id == other_id)
                        .values(customer_id=keep_id)
                    )
            await conn.execute(
                update(t.participants)
                .where(
                    and_(t.participants.c.role == "customer", t.participants.c.ref_id == other_id)
                )
                .values(ref_id=keep_id)
            )
            fill = {
                key: getattr(other, key)
                for key in ("name", "email", "phone")
                if not getattr(keep, key) and getattr(other, key)
            }
            if fill:
                await conn.execute(
                    update(t.customers).where(t.customers.c.id == keep_id).values(**fill)
                )
            await conn.execute(
                update(t.customers)
                .where(t.customers.c.id == other_id)
                .values(attributes={**(other.attributes or {}), "merged_into": keep_id})
            )

    async def set_customer_attributes(
        self, customer_id: str, changes: dict[str, Any]
    ) -> Customer | None:
        """Set keys of a customer's ``attributes`` (a value of ``None`` removes
        the key) in one transaction; ``None`` when there is no such customer."""
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.customers).where(t.customers.c.id == customer_id).with_for_update()
                )
            ).first()
            if row is None:
                return None
            attributes = {**(row.attributes or {}), **changes}
            attributes = {k: v for k, v in attributes.items() if v is not None}
            await conn.execute(
                update(t.customers)
                .where(t.customers.c.id == customer_id)
                .values(attributes=attributes)
            )
        return await self.customer(customer_id)


def _forward(current: str, reported: str) -> str:
    """The status after a report: only forward, and final statuses stay."""
    if current in FINAL_STATUSES:
        return current
    if STATUS_RANK.get(reported, -1) > STATUS_RANK.get(current, -1):
        return reported
    return current
