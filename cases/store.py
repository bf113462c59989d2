"""The durable side of cases: cases, activities, entitlements, API keys, device alerts.

A companion of ``conversations.Store`` sharing its engines (see
``conversations/deliveries.py`` for the pattern): writes run in one
transaction on the write engine, reads on ``Reads``. Every change of a case
is read-modify-write inside one transaction, with the row locked (SQLite's
``BEGIN IMMEDIATE`` takes the write lock up front; PostgreSQL locks the row
with ``FOR UPDATE``), and the pure functions of ``cases.model`` decide the
new state. Case numbers come from the ``counters`` row, incremented in the
same transaction as the insert, so two nodes never hand out one number.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cases import tables as ct
from cases.alerts import DeviceAlert, is_repeat
from cases.entitlements import Entitlement, EntitlementKind
from cases.errors import CaseError
from cases.lifecycle import CaseStatus
from cases.model import Case, Priority, format_number
from conversations import schema as t
from conversations.engine import Engines
from conversations.ids import new_id
from conversations.models import Customer, Message
from conversations.store import _customer, _message
from conversations.times import as_utc

NUMBER_COUNTER = "case_number"
API_KEY_PREFIX = "sbk_"


class CaseNotFound(CaseError):
    code = "not_found"

    def __init__(self, case_id: str) -> None:
        super().__init__(f"no case {case_id!r}")
        self.case_id = case_id


class EntitlementNotFound(CaseError):
    code = "not_found"


class AlreadyLinked(CaseError):
    code = "already_linked"


@dataclass(frozen=True, slots=True)
class Activity:
    """One row of a case's own timeline: an activity (note, phone call, task)
    or an event (status, stage, merge, link)."""

    id: str
    case_id: str
    kind: str
    text: str | None
    minutes: int
    billable: bool
    actor: str | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """What a read-modify-write of one case did."""

    before: Case
    after: Case


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _t(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _case(row: Any) -> Case:
    m = row._mapping
    return Case(
        id=m["id"],
        number=m["number"],
        title=m["title"],
        description=m["description"],
        customer_id=m["customer_id"],
        product=m["product"],
        priority=Priority(m["priority"]),
        origin=m["origin"],
        owner_id=m["owner_id"],
        status=CaseStatus(m["status"]),
        status_reason=m["status_reason"],
        stage=m["stage"],
        parent_id=m["parent_id"],
        follow_up_of=m["follow_up_of"],
        merged_into=m["merged_into"],
        resolution=m["resolution"],
        resolved_at=_t(m["resolved_at"]),
        entitlement_id=m["entitlement_id"],
        entitlement_charge=m["entitlement_charge"],
        billable_minutes=m["billable_minutes"],
        fields=m["fields"] or {},
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
    )


def _row(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "description": case.description,
        "customer_id": case.customer_id,
        "product": case.product,
        "priority": case.priority.value,
        "origin": case.origin,
        "owner_id": case.owner_id,
        "status": case.status.value,
        "status_reason": case.status_reason,
        "stage": case.stage,
        "parent_id": case.parent_id,
        "follow_up_of": case.follow_up_of,
        "merged_into": case.merged_into,
        "resolution": case.resolution,
        "resolved_at": case.resolved_at,
        "entitlement_id": case.entitlement_id,
        "entitlement_charge": case.entitlement_charge,
        "billable_minutes": case.billable_minutes,
        "fields": case.fields,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
    }


def _activity(row: Any) -> Activity:
    m = row._mapping
    return Activity(
        id=m["id"],
        case_id=m["case_id"],
        kind=m["kind"],
        text=m["text"],
        minutes=m["minutes"],
        billable=bool(m["billable"]),
        actor=m["actor"],
        data=m["data"] or {},
        created_at=as_utc(m["created_at"]),
    )


def _entitlement(row: Any) -> Entitlement:
    m = row._mapping
    return Entitlement(
        id=m["id"],
        customer_id=m["customer_id"],
        name=m["name"],
        kind=EntitlementKind(m["kind"]),
        total=float(m["total"]),
        used=m["used"],
        starts_on=m["starts_on"],
        ends_on=m["ends_on"],
        channel=m["channel"],
        product=m["product"],
        created_at=as_utc(m["created_at"]),
    )


def _alert(row: Any) -> DeviceAlert:
    m = row._mapping
    return DeviceAlert(
        id=m["id"],
        device_id=m["device_id"],
        alert_type=m["alert_type"],
        severity=m["severity"],
        description=m["description"],
        customer_id=m["customer_id"],
        count=m["count"],
        status=m["status"],
        first_at=as_utc(m["first_at"]),
        last_at=as_utc(m["last_at"]),
        case_id=m["case_id"],
    )


class CaseStore:
    """Async access to the case tables; one per process, beside ``Store``."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    # -- cases ------------------------------------------------------------

    async def _next_number(self, conn: AsyncConnection) -> str:
        counter = ct.counters
        value = await conn.scalar(
            update(counter)
            .where(counter.c.name == NUMBER_COUNTER)
            .values(value=counter.c.value + 1)
            .returning(counter.c.value)
        )
        if value is None:  # a database made without the migration's seed row
            await conn.execute(insert(counter).values(name=NUMBER_COUNTER, value=1))
            value = 1
        return format_number(int(value))

    async def create(
        self,
        draft: Case,
        *,
        conversation_id: str | None,
        actor: str | None,
        data: dict[str, Any] | None = None,
    ) -> Case:
        """Store a new case (its ``number`` is allocated here) and link the
        conversation, if any.

        Raises:
            AlreadyLinked: the conversation belongs to another case already.
        """
        async with self._engines.write.begin() as conn:
            case = replace(draft, number=await self._next_number(conn))
            await conn.execute(insert(ct.cases).values(**_row(case)))
            if conversation_id is not None:
                await self._link(conn, case.id, conversation_id)
            await self._add_activity(
                conn,
                case.id,
                "status",
                actor,
                {
                    "event": "created",
                    "status": case.status.value,
                    "status_reason": case.status_reason,
                    **(data or {}),
                },
                case.created_at,
            )
            return case

    async def get(self, case_id: str) -> Case:
        row = await self._engines.read.first(select(ct.cases).where(ct.cases.c.id == case_id))
        if row is None:
            raise CaseNotFound(case_id)
        return _case(row)

    async def find(
        self,
        *,
        customer_id: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 200,
    ) -> list[Case]:
        query = select(ct.cases)
        if customer_id is not None:
            query = query.where(ct.cases.c.customer_id == customer_id)
        if statuses:
            query = query.where(ct.cases.c.status.in_(list(statuses)))
        query = query.order_by(ct.cases.c.created_at.desc(), ct.cases.c.id.desc()).limit(limit)
        return [_case(r) for r in await self._engines.read.all(query)]

    async def _locked(self, conn: AsyncConnection, case_id: str) -> Case:
        row = (
            await conn.execute(select(ct.cases).where(ct.cases.c.id == case_id).with_for_update())
        ).first()
        if row is None:
            raise CaseNotFound(case_id)
        return _case(row)

    async def _save(self, conn: AsyncConnection, case: Case) -> None:
        values = _row(case)
        del values["id"], values["number"], values["created_at"]
        await conn.execute(update(ct.cases).where(ct.cases.c.id == case.id).values(**values))

    async def change(
        self,
        case_id: str,
        decide: Callable[[Case], Case],
        *,
        actor: str | None,
        event: str,
        data: dict[str, Any] | None = None,
        now: datetime,
    ) -> Change:
        """Apply the pure ``decide`` to the case under its lock and store the
        result, with a timeline event and the entitlement bookkeeping: a move
        to resolved charges the entitlement, a move from resolved gives the
        charge back."""
        async with self._engines.write.begin() as conn:
            before = await self._locked(conn, case_id)
            after = decide(before)
            if after == before:
                return Change(before, after)
            after = await self._settle_entitlement(conn, before, after)
            await self._save(conn, after)
            payload: dict[str, Any] = {"event": event, **(data or {})}
            if (before.status, before.status_reason) != (after.status, after.status_reason):
                payload.update(
                    status=after.status.value,
                    status_reason=after.status_reason,
                    from_status=before.status.value,
                    from_reason=before.status_reason,
                )
            if before.priority != after.priority:
                payload.update(priority=after.priority.value, from_priority=before.priority.value)
            if before.stage != after.stage:
                payload.update(stage=after.stage, from_stage=before.stage)
            await self._add_activity(conn, case_id, "status", actor, payload, now)
            return Change(before, after)

    async def _settle_entitlement(self, conn: AsyncConnection, before: Case, after: Case) -> Case:
        if after.entitlement_id is None:
            return after
        table = ct.entitlements
        if after.status is CaseStatus.RESOLVED and before.status is not CaseStatus.RESOLVED:
            row = (
                await conn.execute(
                    select(table).where(table.c.id == after.entitlement_id).with_for_update()
                )
            ).first()
            if row is None:
                return replace(after, entitlement_id=None, entitlement_charge=0)
            charge = _entitlement(row).charge_for(after.billable_minutes)
            await conn.execute(
                update(table)
                .where(table.c.id == after.entitlement_id)
                .values(used=table.c.used + charge)
            )
            return replace(after, entitlement_charge=charge)
        if before.status is CaseStatus.RESOLVED and after.status is not CaseStatus.RESOLVED:
            if before.entitlement_charge:
                await conn.execute(
                    update(table)
                    .where(table.c.id == before.entitlement_id)
                    .values(
                        used=func.max(table.c.used - before.entitlement_charge, 0)
                        if self._engines.dialect == "sqlite"
                        else func.greatest(table.c.used - before.entitlement_charge, 0)
                    )
                )
            return replace(after, entitlement_charge=0)
        return after

    async def merge(
        self,
        case_id: str,
        survivor_id: str,
        decide: Callable[[Case, Case], Case],
        *,
        actor: str | None,
        now: datetime,
    ) -> tuple[Case, Case]:
        """Cancel ``case_id`` as merged into ``survivor_id``; its conversations,
        activities, child cases and billable minutes move to the survivor."""
        async with self._engines.write.begin() as conn:
            # Lock in id order, so two opposite merges cannot deadlock.
            first, second = sorted((case_id, survivor_id))
            locked = {first: await self._locked(conn, first)}
            if second != first:
                locked[second] = await self._locked(conn, second)
            merged = decide(locked[case_id], locked[survivor_id])
            survivor = replace(
                locked[survivor_id],
                billable_minutes=locked[survivor_id].billable_minutes + merged.billable_minutes,
                updated_at=now,
            )
            merged = replace(merged, billable_minutes=0)
            await self._save(conn, merged)
            await self._save(conn, survivor)
            await conn.execute(
                update(t.conversations)
                .where(t.conversations.c.case_id == case_id)
                .values(case_id=survivor_id)
            )
            await conn.execute(
                update(ct.case_activities)
                .where(ct.case_activities.c.case_id == case_id)
                .values(case_id=survivor_id)
            )
            await conn.execute(
                update(ct.cases)
                .where(ct.cases.c.parent_id == case_id)
                .values(parent_id=survivor_id)
            )
            await self._add_activity(
                conn,
                case_id,
                "status",
                actor,
                {
                    "event": "merged",
                    "into": survivor_id,
                    "status": merged.status.value,
                    "status_reason": merged.status_reason,
                },
                now,
            )
            await self._add_activity(
                conn,
                survivor_id,
                "status",
                actor,
                {"event": "merged_in", "case": case_id, "number": merged.number},
                now,
            )
            return merged, survivor

    # -- conversations ------------------------------------------------------

    async def _link(self, conn: AsyncConnection, case_id: str, conversation_id: str) -> None:
        current = await conn.execute(
            select(t.conversations.c.case_id)
            .where(t.conversations.c.id == conversation_id)
            .with_for_update()
        )
        row = current.first()
        if row is None:
            raise CaseError(f"no conversation {conversation_id!r}")
        if row.case_id is not None and row.case_id != case_id:
            raise AlreadyLinked(
                f"conversation {conversation_id!r} belongs to case {row.case_id!r} already"
            )
        await conn.execute(
            update(t.conversations)
            .where(t.conversations.c.id == conversation_id)
            .values(case_id=case_id)
        )

    async def link(
        self, case_id: str, conversation_id: str, *, actor: str | None, now: datetime
    ) -> None:
        async with self._engines.write.begin() as conn:
            await self._locked(conn, case_id)
            await self._link(conn, case_id, conversation_id)
            await self._add_activity(
                conn,
                case_id,
                "status",
                actor,
                {"event": "conversation_linked", "conversation_id": conversation_id},
                now,
            )

    async def relink(
        self, case_id: str, conversation_id: str, *, actor: str | None, now: datetime
    ) -> None:
        """Move a conversation to ``case_id`` from whatever case it had (a
        follow-up case takes over the conversation it came from)."""
        async with self._engines.write.begin() as conn:
            await self._locked(conn, case_id)
            await conn.execute(
                update(t.conversations)
                .where(t.conversations.c.id == conversation_id)
                .values(case_id=case_id)
            )
            await self._add_activity(
                conn,
                case_id,
                "status",
                actor,
                {"event": "conversation_linked", "conversation_id": conversation_id},
                now,
            )

    async def conversation_ids(self, case_id: str) -> list[str]:
        query = (
            select(t.conversations.c.id)
            .where(t.conversations.c.case_id == case_id)
            .order_by(t.conversations.c.created_at, t.conversations.c.id)
        )
        return [r.id for r in await self._engines.read.all(query)]

    async def case_of_conversation(self, conversation_id: str) -> str | None:
        query = select(t.conversations.c.case_id).where(t.conversations.c.id == conversation_id)
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    async def case_of_email(self, message_ids: Sequence[str]) -> str | None:
        """The case of the conversation an email thread belongs to (through
        the channels' Message-ID index), newest first."""
        if not message_ids:
            return None
        query = (
            select(t.conversations.c.case_id)
            .select_from(
                t.email_threads.join(
                    t.conversations, t.conversations.c.id == t.email_threads.c.conversation_id
                )
            )
            .where(
                t.email_threads.c.message_id_header.in_(list(message_ids)),
                t.conversations.c.case_id.is_not(None),
            )
            .order_by(t.email_threads.c.created_at.desc())
            .limit(1)
        )
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    async def messages(self, case_id: str, limit: int = 5000) -> list[Message]:
        query = (
            select(t.messages)
            .where(
                t.messages.c.conversation_id.in_(
                    select(t.conversations.c.id).where(t.conversations.c.case_id == case_id)
                )
            )
            .order_by(t.messages.c.created_at, t.messages.c.id)
            .limit(limit)
        )
        return [_message(r) for r in await self._engines.read.all(query)]

    async def uncased_first_messages(
        self, channels: Sequence[str], since: datetime, limit: int = 500
    ) -> list[Message]:
        """The first customer message of each conversation on ``channels``
        opened since ``since`` that has no case (for the catch-up at start)."""
        conversations = (
            select(t.conversations.c.id)
            .where(
                t.conversations.c.case_id.is_(None),
                t.conversations.c.channel.in_(list(channels)),
                t.conversations.c.created_at >= since,
            )
            .order_by(t.conversations.c.created_at)
            .limit(limit)
        )
        first = (
            select(t.messages.c.conversation_id, func.min(t.messages.c.seq).label("seq"))
            .where(
                t.messages.c.conversation_id.in_(conversations),
                t.messages.c.sender_role == "customer",
            )
            .group_by(t.messages.c.conversation_id)
            .subquery()
        )
        query = (
            select(t.messages)
            .join(
                first,
                (t.messages.c.conversation_id == first.c.conversation_id)
                & (t.messages.c.seq == first.c.seq),
            )
            .order_by(t.messages.c.created_at)
        )
        return [_message(r) for r in await self._engines.read.all(query)]

    async def first_customer_message(self, message: Message) -> bool:
        """Whether no customer message precedes ``message`` in its conversation."""
        query = select(func.count()).where(
            t.messages.c.conversation_id == message.conversation_id,
            t.messages.c.seq < message.seq,
            t.messages.c.sender_role == "customer",
        )
        return not await self._engines.read.scalar(query)

    async def customer(self, customer_id: str) -> Customer | None:
        row = await self._engines.read.first(
            select(t.customers).where(t.customers.c.id == customer_id)
        )
        return _customer(row) if row else None

    # -- activities ---------------------------------------------------------

    async def _add_activity(
        self,
        conn: AsyncConnection,
        case_id: str,
        kind: str,
        actor: str | None,
        data: dict[str, Any],
        now: datetime,
        *,
        text: str | None = None,
        minutes: int = 0,
        billable: bool = False,
    ) -> Activity:
        activity = Activity(
            id=new_id("act"),
            case_id=case_id,
            kind=kind,
            text=text,
            minutes=minutes,
            billable=billable,
            actor=actor,
            data=data,
            created_at=now,
        )
        await conn.execute(
            insert(ct.case_activities).values(
                id=activity.id,
                case_id=case_id,
                kind=kind,
                text=text,
                minutes=minutes,
                billable=billable,
                actor=actor,
                data=data,
                created_at=now,
            )
        )
        return activity

    async def add_activity(
        self,
        case_id: str,
        kind: str,
        *,
        text: str,
        minutes: int,
        billable: bool,
        actor: str | None,
        now: datetime,
    ) -> tuple[Activity, Case]:
        """A note, phone call or task; billable minutes add up on the case."""
        async with self._engines.write.begin() as conn:
            case = await self._locked(conn, case_id)
            activity = await self._add_activity(
                conn, case_id, kind, actor, {}, now, text=text, minutes=minutes, billable=billable
            )
            if billable and minutes:
                case = replace(
                    case, billable_minutes=case.billable_minutes + minutes, updated_at=now
                )
                await conn.execute(
                    update(ct.cases)
                    .where(ct.cases.c.id == case_id)
                    .values(billable_minutes=ct.cases.c.billable_minutes + minutes, updated_at=now)
                )
            return activity, case

    async def activities(self, case_id: str) -> list[Activity]:
        query = (
            select(ct.case_activities)
            .where(ct.case_activities.c.case_id == case_id)
            .order_by(ct.case_activities.c.created_at, ct.case_activities.c.id)
        )
        return [_activity(r) for r in await self._engines.read.all(query)]

    # -- entitlements -------------------------------------------------------

    async def create_entitlement(self, entitlement: Entitlement) -> Entitlement:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(ct.entitlements).values(
                    id=entitlement.id,
                    customer_id=entitlement.customer_id,
                    name=entitlement.name,
                    kind=entitlement.kind.value,
                    total=entitlement.total,
                    used=entitlement.used,
                    starts_on=entitlement.starts_on,
                    ends_on=entitlement.ends_on,
                    channel=entitlement.channel,
                    product=entitlement.product,
                    created_at=entitlement.created_at,
                )
            )
        return entitlement

    async def entitlement(self, entitlement_id: str) -> Entitlement | None:
        row = await self._engines.read.first(
            select(ct.entitlements).where(ct.entitlements.c.id == entitlement_id)
        )
        return _entitlement(row) if row else None

    async def entitlements_of(self, customer_id: str) -> list[Entitlement]:
        query = (
            select(ct.entitlements)
            .where(ct.entitlements.c.customer_id == customer_id)
            .order_by(ct.entitlements.c.ends_on, ct.entitlements.c.id)
        )
        return [_entitlement(r) for r in await self._engines.read.all(query)]

    # -- API keys -----------------------------------------------------------

    async def create_api_key(self, name: str, now: datetime) -> tuple[str, str]:
        """A new key for ``name``: ``(id, key)``. Only its hash is stored; the
        key itself is shown once.

        Raises:
            CaseError: the name is taken.
        """
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = new_id("key")
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(ct.api_keys).values(
                        id=key_id, name=name, key_hash=hash_key(key), created_at=now
                    )
                )
        except IntegrityError:
            raise CaseError(f"an API key named {name!r} exists already") from None
        return key_id, key

    async def api_key_id(self, key: str) -> str | None:
        """The id of a valid (unrevoked) key, else None."""
        query = select(ct.api_keys.c.id).where(
            ct.api_keys.c.key_hash == hash_key(key), ct.api_keys.c.revoked_at.is_(None)
        )
        found = await self._engines.read.scalar(query)
        return str(found) if found is not None else None

    async def revoke_api_key(self, name: str, now: datetime) -> bool:
        """Revoke the key named ``name``; False if there is no such live key."""
        async with self._engines.write.begin() as conn:
            result = await conn.execute(
                update(ct.api_keys)
                .where(ct.api_keys.c.name == name, ct.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return bool(result.rowcount)

    async def api_keys(self) -> list[tuple[str, str, datetime, datetime | None]]:
        query = select(ct.api_keys).order_by(ct.api_keys.c.name)
        return [
            (r.id, r.name, as_utc(r.created_at), _t(r.revoked_at))
            for r in await self._engines.read.all(query)
        ]

    # -- device alerts ------------------------------------------------------

    async def report_alert(
        self,
        *,
        device_id: str,
        alert_type: str,
        severity: str,
        description: str,
        customer_id: str | None,
        api_key_id: str,
        now: datetime,
        window: Any,
    ) -> DeviceAlert:
        """Count a report on the open alert of its device and type, or open a
        new alert (closing a stale one first)."""
        open_key = f"{device_id}|{alert_type}"
        table = ct.device_alerts
        for attempt in (1, 2):
            try:
                async with self._engines.write.begin() as conn:
                    row = (
                        await conn.execute(
                            select(table).where(table.c.open_key == open_key).with_for_update()
                        )
                    ).first()
                    current = _alert(row) if row else None
                    if current is not None and is_repeat(current, now, window):
                        await conn.execute(
                            update(table)
                            .where(table.c.id == current.id)
                            .values(
                                count=table.c.count + 1,
                                last_at=now,
                                severity=severity,
                                description=description,
                                customer_id=customer_id or current.customer_id,
                            )
                        )
                        alert_id = current.id
                    else:
                        if current is not None:
                            await conn.execute(
                                update(table)
                                .where(table.c.id == current.id)
                                .values(status="closed", open_key=None)
                            )
                        alert_id = new_id("al")
                        await conn.execute(
                            insert(table).values(
                                id=alert_id,
                                device_id=device_id,
                                alert_type=alert_type,
                                severity=severity,
                                description=description,
                                customer_id=customer_id,
                                count=1,
                                status="open",
                                open_key=open_key,
                                case_id=None,
                                api_key_id=api_key_id,
                                first_at=now,
                                last_at=now,
                            )
                        )
                    stored = (await conn.execute(select(table).where(table.c.id == alert_id))).one()
                    return _alert(stored)
            except IntegrityError:
                if attempt == 2:
                    raise
                # Another request opened the alert at the same moment: count on it.
        raise AssertionError("unreachable")

    async def close_alert(self, alert_id: str) -> DeviceAlert | None:
        """Close an alert: the next report of its device and type opens a new one."""
        table = ct.device_alerts
        async with self._engines.write.begin() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == alert_id, table.c.status == "open")
                .values(status="closed", open_key=None)
            )
            row = (await conn.execute(select(table).where(table.c.id == alert_id))).first()
            return _alert(row) if row else None

    async def set_alert_case(self, alert_id: str, case_id: str) -> None:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                update(ct.device_alerts)
                .where(ct.device_alerts.c.id == alert_id, ct.device_alerts.c.case_id.is_(None))
                .values(case_id=case_id)
            )

    async def alerts(self, *, status: str | None = None, limit: int = 200) -> list[DeviceAlert]:
        query = select(ct.device_alerts)
        if status is not None:
            query = query.where(ct.device_alerts.c.status == status)
        query = query.order_by(ct.device_alerts.c.last_at.desc()).limit(limit)
        return [_alert(r) for r in await self._engines.read.all(query)]

    async def alert(self, alert_id: str) -> DeviceAlert | None:
        row = await self._engines.read.first(
            select(ct.device_alerts).where(ct.device_alerts.c.id == alert_id)
        )
        return _alert(row) if row else None


def today(now: datetime) -> date:
    return now.date()
