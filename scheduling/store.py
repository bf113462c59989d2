"""The scheduling store: resources, services and appointments in the database.

Beside the conversation store, sharing its engines (``Store.engines``). The
one operation that must be atomic is taking time: ``book`` (and
``reschedule``) locks the rows of the resources it takes, in id order, then
checks for overlapping booked time and writes, all in one transaction, so two
agents booking the same resource at once get one success and one
``SlotTaken``, on SQLite and PostgreSQL and across nodes (see tables.py).
This module is the package's only I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conversations import schema as ct
from conversations.engine import Engines
from conversations.ids import new_id
from scheduling import tables as t
from scheduling.appointments import (
    HOLDS_RESOURCES,
    AppointmentStatus,
    check_reschedule,
    transition,
)
from scheduling.errors import SlotTaken
from scheduling.intervals import to_seconds
from scheduling.model import Requirement, Resource, Service
from scheduling.search import Booking


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def resource_to_wire(r: Resource, created_at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "user": r.user,
        "skills": dict(r.skills),
        "calendar": r.calendar,
        "site": r.site,
        "closures": [{"start": rfc3339(a), "end": rfc3339(b)} for a, b in r.closures],
    }
    if created_at is not None:
        body["created_at"] = rfc3339(created_at)
    return body


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def service_to_wire(s: Service) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "duration": _duration(s.seconds),
        "requires": [
            {"kind": q.kind, "skills": dict(q.skills), "resource": q.resource} for q in s.requires
        ],
        "buffer": {"before": _duration(s.before_s), "after": _duration(s.after_s)},
        "same_site": s.same_site,
        "preferred_resource": s.preferred_resource,
        "earliest_start": s.earliest_start.strftime("%H:%M") if s.earliest_start else None,
        "latest_start": s.latest_start.strftime("%H:%M") if s.latest_start else None,
        "timezone": s.timezone,
    }


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    service_id: str
    status: str
    start: datetime
    end: datetime
    resources: tuple[str, ...]
    customer_id: str | None
    case_id: str | None
    conversation_id: str | None
    timezone: str | None
    history: tuple[dict[str, Any], ...]
    notifications: tuple[dict[str, Any], ...]
    reminder_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service_id": self.service_id,
            "status": self.status,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "resources": list(self.resources),
            "customer_id": self.customer_id,
            "case_id": self.case_id,
            "conversation_id": self.conversation_id,
            "timezone": self.timezone,
            "history": list(self.history),
            "notifications": list(self.notifications),
            "reminder_at": rfc3339(self.reminder_at) if self.reminder_at else None,
            "created_by": self.created_by,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }


def _appointment(row: Any) -> Appointment:
    m = row._mapping
    return Appointment(
        id=m["id"],
        service_id=m["service_id"],
        status=m["status"],
        start=_aware(m["start"]),
        end=_aware(m["end"]),
        resources=tuple(m["resources"]),
        customer_id=m["customer_id"],
        case_id=m["case_id"],
        conversation_id=m["conversation_id"],
        timezone=m["timezone"],
        history=tuple(m["history"] or ()),
        notifications=tuple(m["notifications"] or ()),
        reminder_at=_aware(m["reminder_at"]) if m["reminder_at"] is not None else None,
        created_by=m["created_by"],
        created_at=_aware(m["created_at"]),
        updated_at=_aware(m["updated_at"]),
    )


def _resource(row: Any) -> Resource:
    m = row._mapping
    return Resource(
        id=m["id"],
        name=m["name"],
        kind=m["kind"],
        skills=dict(m["skills"] or {}),
        calendar=m["calendar"],
        site=m["site"],
        user=m["username"],
        closures=tuple((_instant(c["start"]), _instant(c["end"])) for c in m["closures"] or ()),
    )


def _service(row: Any) -> Service:
    m = row._mapping
    c = dict(m["constraints"] or {})
    return Service(
        id=m["id"],
        name=m["name"],
        duration=timedelta(seconds=m["duration_s"]),
        requires=tuple(
            Requirement(q["kind"], dict(q.get("skills") or {}), q.get("resource"))
            for q in m["requires"]
        ),
        buffer_before=timedelta(seconds=m["buffer_before_s"]),
        buffer_after=timedelta(seconds=m["buffer_after_s"]),
        same_site=bool(c.get("same_site", False)),
        preferred_resource=c.get("preferred_resource"),
        earliest_start=time.fromisoformat(c["earliest_start"]) if c.get("earliest_start") else None,
        latest_start=time.fromisoformat(c["latest_start"]) if c.get("latest_start") else None,
        timezone=c.get("timezone") or "UTC",
    )


class SchedulingStore:
    """Async access to the scheduling tables; one per process."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    # -- resources and services ---------------------------------------------

    async def create_resource(self, resource: Resource, now: datetime) -> Resource:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.resources).values(
                    id=resource.id,
                    name=resource.name,
                    kind=resource.kind,
                    username=resource.user,
                    skills=dict(resource.skills),
                    calendar=resource.calendar,
                    site=resource.site,
                    closures=[
                        {"start": rfc3339(a), "end": rfc3339(b)} for a, b in resource.closures
                    ],
                    bookings_made=0,
                    created_at=now,
                )
            )
        return resource

    async def resources(self) -> list[Resource]:
        rows = await self._engines.read.all(select(t.resources).order_by(t.resources.c.id))
        return [_resource(r) for r in rows]

    async def resource(self, resource_id: str) -> Resource | None:
        row = await self._engines.read.first(
            select(t.resources).where(t.resources.c.id == resource_id)
        )
        return _resource(row) if row else None

    async def create_service(self, service: Service, now: datetime) -> Service:
        constraints = {
            "same_site": service.same_site,
            "preferred_resource": service.preferred_resource,
            "earliest_start": _clock(service.earliest_start),
            "latest_start": _clock(service.latest_start),
            "timezone": service.timezone,
        }
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.services).values(
                    id=service.id,
                    name=service.name,
                    duration_s=service.seconds,
                    buffer_before_s=service.before_s,
                    buffer_after_s=service.after_s,
                    requires=[
                        {"kind": q.kind, "skills": dict(q.skills), "resource": q.resource}
                        for q in service.requires
                    ],
                    constraints=constraints,
                    created_at=now,
                )
            )
        return service

    async def services(self) -> list[Service]:
        rows = await self._engines.read.all(select(t.services).order_by(t.services.c.id))
        return [_service(r) for r in rows]

    async def service(self, service_id: str) -> Service | None:
        row = await self._engines.read.first(
            select(t.services).where(t.services.c.id == service_id)
        )
        return _service(row) if row else None

    async def case_customer(self, case_id: str) -> tuple[bool, str | None]:
        """Whether the case exists, and its customer. Without the service desk's
        ``cases`` table (cases not installed) every case id is taken as given."""
        cases = ct.metadata.tables.get("cases")
        if cases is None:
            return True, None
        row = await self._engines.read.first(
            select(cases.c.customer_id).where(cases.c.id == case_id)
        )
        return (row is not None), (row.customer_id if row is not None else None)

    async def customer_exists(self, customer_id: str) -> bool:
        query = select(ct.customers.c.id).where(ct.customers.c.id == customer_id)
        return await self._engines.read.scalar(query) is not None

    async def customer_timezone(self, customer_id: str) -> str | None:
        """The time zone stored on the customer (``PATCH /api/v1/customers/{id}``)."""
        query = select(ct.customers.c.attributes).where(ct.customers.c.id == customer_id)
        attributes = await self._engines.read.scalar(query)
        found = (attributes or {}).get("timezone") if isinstance(attributes, dict) else None
        return found if isinstance(found, str) else None

    # -- booked time -----------------------------------------------------------

    async def bookings_between(
        self,
        start: datetime,
        end: datetime,
        resource_ids: Sequence[str] | None = None,
        exclude: str | None = None,
    ) -> list[Booking]:
        """Booked time overlapping ``[start, end)`` (of these resources, or all;
        without the appointment ``exclude``)."""
        b = t.bookings
        query = select(b.c.resource_id, b.c.start, b.c.end).where(b.c.start < end, b.c.end > start)
        if resource_ids is not None:
            query = query.where(b.c.resource_id.in_(list(resource_ids)))
        if exclude is not None:
            query = query.where(b.c.appointment_id != exclude)
        rows = await self._engines.read.all(query)
        return [
            Booking(r.resource_id, to_seconds(_aware(r.start)), to_seconds(_aware(r.end)))
            for r in rows
        ]

    async def previous_resources(self, customer_id: str) -> frozenset[str]:
        """Resources of the customer's earlier appointments that were not cancelled."""
        query = (
            select(t.appointments.c.resources)
            .where(
                t.appointments.c.customer_id == customer_id,
                t.appointments.c.status.in_([s.value for s in HOLDS_RESOURCES]),
            )
            .order_by(t.appointments.c.start.desc())
            .limit(20)
        )
        return frozenset(rid for (ids,) in await self._engines.read.all(query) for rid in ids)

    async def _take(
        self,
        conn: AsyncConnection,
        appointment_id: str,
        resource_ids: Sequence[str],
        span: tuple[datetime, datetime],
    ) -> None:
        """Lock the resources, check nothing of theirs overlaps ``span`` (other
        than this appointment's own time), and book it. Raises ``SlotTaken``."""
        ordered = sorted(resource_ids)
        locked = await conn.execute(
            select(t.resources.c.id, t.resources.c.name)
            .where(t.resources.c.id.in_(ordered))
            .order_by(t.resources.c.id)
            .with_for_update()
        )
        names = {r.id: r.name for r in locked}
        b = t.bookings
        clash = (
            await conn.execute(
                select(b.c.resource_id)
                .where(
                    b.c.resource_id.in_(ordered),
                    b.c.appointment_id != appointment_id,
                    b.c.start < span[1],
                    b.c.end > span[0],
                )
                .limit(1)
            )
        ).first()
        if clash is not None:
            rid = clash.resource_id
            raise SlotTaken(f"{names.get(rid, rid)} is already booked then", resource_id=str(rid))
        await conn.execute(delete(b).where(b.c.appointment_id == appointment_id))
        await conn.execute(
            insert(b),
            [
                {"appointment_id": appointment_id, "resource_id": rid}
                | {"start": span[0], "end": span[1]}
                for rid in ordered
            ],
        )
        await conn.execute(
            update(t.resources)
            .where(t.resources.c.id.in_(ordered))
            .values(bookings_made=t.resources.c.bookings_made + 1)
        )

    async def book(
        self,
        *,
        service: Service,
        start: datetime,
        resource_ids: Sequence[str],
        customer_id: str | None,
        case_id: str | None,
        conversation_id: str | None,
        timezone: str | None,
        created_by: str | None,
        now: datetime,
        reminder_at: datetime | None = None,
    ) -> Appointment:
        """Book atomically (see the module doc). Raises ``SlotTaken``."""
        appointment_id = new_id("apt")
        end = start + service.duration
        span = (start - service.buffer_before, end + service.buffer_after)
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.appointments).values(
                    id=appointment_id,
                    service_id=service.id,
                    status=AppointmentStatus.SCHEDULED.value,
                    start=start,
                    end=end,
                    resources=list(resource_ids),
                    customer_id=customer_id,
                    case_id=case_id,
                    conversation_id=conversation_id,
                    timezone=timezone,
                    history=[],
                    notifications=[],
                    reminder_at=reminder_at,
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
            await self._take(conn, appointment_id, resource_ids, span)
        found = await self.appointment(appointment_id)
        assert found is not None
        return found

    async def reschedule(
        self,
        appointment_id: str,
        *,
        service: Service,
        start: datetime,
        resource_ids: Sequence[str],
        by: str | None,
        now: datetime,
        reminder_at: datetime | None = None,
    ) -> Appointment | None:
        """Move a scheduled appointment, keeping where it was in its history.

        Returns ``None`` for an unknown id. Raises ``SlotTaken`` or
        ``IllegalTransition`` (not scheduled).
        """
        end = start + service.duration
        span = (start - service.buffer_before, end + service.buffer_after)
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.appointments)
                    .where(t.appointments.c.id == appointment_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            current = _appointment(row)
            check_reschedule(current.status)
            await self._take(conn, appointment_id, resource_ids, span)
            entry = {
                "at": rfc3339(now),
                "by": by,
                "start": rfc3339(current.start),
                "end": rfc3339(current.end),
                "resources": list(current.resources),
            }
            await conn.execute(
                update(t.appointments)
                .where(t.appointments.c.id == appointment_id)
                .values(
                    start=start,
                    end=end,
                    resources=list(resource_ids),
                    history=[*current.history, entry],
                    reminder_at=reminder_at,
                    updated_at=now,
                )
            )
        return await self.appointment(appointment_id)

    async def change_status(
        self, appointment_id: str, target: str, *, by: str | None, now: datetime
    ) -> Appointment | None:
        """Move an appointment through the status table; leaving the statuses
        that hold time frees it. ``None`` for an unknown id; raises
        ``IllegalTransition``."""
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.appointments)
                    .where(t.appointments.c.id == appointment_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            current = _appointment(row)
            new = transition(current.status, target)
            entry = {"at": rfc3339(now), "by": by, "status": new.value}
            await conn.execute(
                update(t.appointments)
                .where(t.appointments.c.id == appointment_id)
                .values(
                    status=new.value,
                    history=[*current.history, entry],
                    reminder_at=None,
                    updated_at=now,
                )
            )
            if new not in HOLDS_RESOURCES:
                await conn.execute(
                    delete(t.bookings).where(t.bookings.c.appointment_id == appointment_id)
                )
        return await self.appointment(appointment_id)

    async def claim_due_reminders(self, now: datetime, limit: int = 100) -> list[Appointment]:
        """Scheduled appointments whose reminder is due, each claimed by clearing
        its ``reminder_at`` (only one node's update matches, so a reminder goes
        out once across nodes)."""
        a = t.appointments
        query = (
            select(a.c.id)
            .where(a.c.reminder_at <= now, a.c.status == AppointmentStatus.SCHEDULED.value)
            .order_by(a.c.reminder_at)
            .limit(limit)
        )
        claimed = []
        for (appointment_id,) in await self._engines.read.all(query):
            async with self._engines.write.begin() as conn:
                result = await conn.execute(
                    update(a)
                    .where(a.c.id == appointment_id, a.c.reminder_at.is_not(None))
                    .values(reminder_at=None)
                )
            if result.rowcount == 1:
                found = await self.appointment(appointment_id)
                if found is not None:
                    claimed.append(found)
        return claimed

    async def record_notification(self, appointment_id: str, entry: dict[str, Any]) -> None:
        a = t.appointments
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(select(a.c.notifications).where(a.c.id == appointment_id))
            ).first()
            if row is None:
                return
            await conn.execute(
                update(a)
                .where(a.c.id == appointment_id)
                .values(notifications=[*(row.notifications or []), entry])
            )

    async def next_for_customer(self, customer_id: str, now: datetime) -> Appointment | None:
        """The customer's next scheduled appointment that has not started."""
        a = t.appointments
        row = await self._engines.read.first(
            select(a)
            .where(
                a.c.customer_id == customer_id,
                a.c.status == AppointmentStatus.SCHEDULED.value,
                a.c.start > now,
            )
            .order_by(a.c.start)
            .limit(1)
        )
        return _appointment(row) if row else None

    async def appointment(self, appointment_id: str) -> Appointment | None:
        row = await self._engines.read.first(
            select(t.appointments).where(t.appointments.c.id == appointment_id)
        )
        return _appointment(row) if row else None

    async def list_appointments(
        self,
        *,
        resource_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        customer_id: str | None = None,
        case_id: str | None = None,
        conversation_id: str | None = None,
        status: str | None = None,
        limit: int = 500,
    ) -> list[Appointment]:
        a = t.appointments
        query = select(a)
        if resource_id is not None:
            # Booked time finds the live ones; a cancelled appointment has none
            # left but still names its resources (checked exactly below).
            ids = select(t.bookings.c.appointment_id).where(t.bookings.c.resource_id == resource_id)
            released = [s.value for s in AppointmentStatus if s not in HOLDS_RESOURCES]
            query = query.where(a.c.id.in_(ids) | a.c.status.in_(released))
        if start is not None:
            query = query.where(a.c.end > start)
        if end is not None:
            query = query.where(a.c.start < end)
        if customer_id is not None:
            query = query.where(a.c.customer_id == customer_id)
        if case_id is not None:
            query = query.where(a.c.case_id == case_id)
        if conversation_id is not None:
            query = query.where(a.c.conversation_id == conversation_id)
        if status is not None:
            query = query.where(a.c.status == status)
        rows = await self._engines.read.all(query.order_by(a.c.start, a.c.id).limit(limit))
        found = [_appointment(r) for r in rows]
        if resource_id is not None:
            found = [x for x in found if resource_id in x.resources]
        return found


def _clock(moment: time | None) -> str | None:
    return moment.strftime("%H:%M") if moment is not None else None
