"""Service scheduling over HTTP: resources, services, slot search, appointments.

The I/O shell around ``scheduling/``: it loads what a question needs from the
store (resources, services, booked time near the window), asks the pure
``Schedule``, and books through ``SchedulingStore.book``, which takes the
time atomically (one 201 and one 409 when two agents race for a resource).
Calendars come from ``[scheduling]`` ``calendars``, from the service desk's
``[[calendars]]`` when configured, and the built-in ``"24x7"``; every
resource works by one (a resource that names none gets ``[scheduling]
default_calendar``; without that, searching or booking with it is refused).

Supervisors and admins define resources and services; any staff account
searches, books, reschedules and cancels.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations.errors import ConversationNotFound
from conversations.ids import new_id
from durations import parse_duration
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.scheduling_runtime import Notifier
from gateway.services import Services
from scheduling.calendars import (
    ALWAYS_OPEN,
    ALWAYS_OPEN_NAME,
    Calendar,
    WeeklyHours,
    calendar_zone,
    zone,
)
from scheduling.config import SchedulingConfig
from scheduling.errors import IllegalTransition, InvalidModel, SlotTaken
from scheduling.model import Requirement, Resource, Service
from scheduling.search import PREFERENCES, Preference, Schedule, SearchRequest
from scheduling.store import Appointment, SchedulingStore, resource_to_wire, service_to_wire

log = logging.getLogger(__name__)

DEFINERS = ("supervisor", "admin")
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=40)]
Level = Annotated[int, Field(ge=1, le=5)]
Kind = Literal["person", "equipment", "facility"]
DAY = timedelta(days=1)
EVER = timedelta(weeks=8)
"""How far ahead "could this service ever happen?" looks (with nothing booked)."""


def _now() -> datetime:
    return datetime.now(UTC)


# -- bodies -------------------------------------------------------------------


class ClosureBody(Body):
    start: AwareDatetime
    end: AwareDatetime


class ResourceCreate(Body):
    name: Name
    kind: Kind
    user: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    skills: dict[Annotated[str, Field(min_length=1, max_length=100)], Level] = Field(
        default_factory=dict
    )
    calendar: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    site: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    closures: Annotated[list[ClosureBody], Field(max_length=500)] = Field(default_factory=list)


class RequirementBody(Body):
    kind: Kind
    skills: dict[Annotated[str, Field(min_length=1, max_length=100)], Level] = Field(
        default_factory=dict
    )
    resource: Id | None = None


class BufferBody(Body):
    before: str | None = None
    after: str | None = None


class ServiceCreate(Body):
    name: Name
    duration: str
    requires: Annotated[list[RequirementBody], Field(min_length=1, max_length=12)]
    buffer: str | BufferBody | None = None
    """One duration for both sides, or ``{"before", "after"}``."""
    same_site: bool = False
    preferred_resource: Id | None = None
    earliest_start: Annotated[str, Field(pattern=r"^\d{2}:\d{2}$")] | None = None
    latest_start: Annotated[str, Field(pattern=r"^\d{2}:\d{2}$")] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"


class SearchBody(Body):
    service_id: Id
    from_: AwareDatetime = Field(alias="from")
    until: AwareDatetime
    count: Annotated[int, Field(ge=1, le=500)] | None = None
    customer_id: Id | None = None
    """Prefer the resources this customer had before."""
    prefer: list[Preference] | None = None


class AppointmentCreate(Body):
    service_id: Id
    start: AwareDatetime
    resources: Annotated[list[Id], Field(min_length=1, max_length=12)]
    customer_id: Id | None = None
    case_id: Id | None = None
    conversation_id: Id | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The customer's time zone, for the times in messages to them."""


class RescheduleBody(Body):
    start: AwareDatetime
    resources: Annotated[list[Id], Field(min_length=1, max_length=12)] | None = None


class TransitionBody(Body):
    to: Literal["in_progress", "completed", "cancelled", "no_show"]


# -- the runtime ----------------------------------------------------------------


class SchedulingRuntime:
    """One per process: the store, the calendars, the config."""

    def __init__(self, services: Services, channels: Any = None) -> None:
        self.services = services
        config = getattr(services.settings, "scheduling", None)
        self.config: SchedulingConfig = (
            config if config is not None else SchedulingConfig.model_validate({})
        )
        self.store = SchedulingStore(services.store.engines)
        self.calendars: dict[str, Calendar] = {}
        self.notifier = Notifier(
            services, self.store, self.config, channels, resource_zone=self.resource_zone
        )

    def reminder_at(self, start: datetime, now: datetime) -> datetime | None:
        """When the reminder goes out; none when the visit is sooner than that."""
        due = start - self.config.reminder_before
        return due if due > now else None

    async def start(self) -> None:
        self.calendars = {
            ALWAYS_OPEN_NAME: ALWAYS_OPEN,
            **desk_calendars(self.services.settings),
            **self.config.weekly_calendars(),
        }
        await self.notifier.start()

    async def stop(self) -> None:
        await self.notifier.stop()

    async def resources(self) -> list[Resource]:
        """Every resource, those without a calendar (rows from before calendars
        were required) given ``default_calendar`` when one is set."""
        default = self.config.default_calendar
        resources = await self.store.resources()
        if default is None:
            return resources
        return [r if r.calendar else dataclasses.replace(r, calendar=default) for r in resources]

    async def resource_zone(self, resource_ids: Sequence[str]) -> str | None:
        """The time zone of the calendar of the first of these resources that has one."""
        by_id = {r.id: r for r in await self.resources()}
        for rid in resource_ids:
            r = by_id.get(rid)
            found = calendar_zone(self.calendars.get(r.calendar)) if r and r.calendar else None
            if found:
                return found
        return None

    async def schedule_around(
        self,
        start: datetime,
        end: datetime,
        resource_ids: list[str] | None = None,
        *,
        exclude: str | None = None,
    ) -> tuple[Schedule, list[Resource]]:
        """A ``Schedule`` of every resource (or these) with the booked time from a
        day before ``start`` to a day after ``end`` (enough for buffers and for
        "least booked that day")."""
        resources = await self.resources()
        if resource_ids is not None:
            wanted = set(resource_ids)
            resources = [r for r in resources if r.id in wanted]
        bookings = await self.store.bookings_between(
            start - DAY, end + DAY, resource_ids=resource_ids, exclude=exclude
        )
        try:
            schedule = Schedule(resources, self.calendars, bookings)
        except InvalidModel as exc:
            raise BadRequest(str(exc), code=exc.code) from None
        return schedule, resources


class DeskCalendar:
    """A service-desk business-hours calendar (``sla.calendar.Calendar``, whose
    ``open_intervals`` walks POSIX seconds from a start) seen through the
    scheduling ``Calendar`` protocol."""

    def __init__(self, calendar: Any) -> None:
        self._calendar = calendar
        self.name = str(getattr(calendar, "name", ""))
        zone_info = getattr(calendar, "zone", None)
        self.timezone: str | None = getattr(zone_info, "key", None)

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        lo, hi = start.timestamp(), end.timestamp()
        found = []
        for a, b in self._calendar.open_intervals(lo, hi):
            a, b = max(a, lo), min(b, hi)
            if a < b:
                found.append((datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)))
        return found


def desk_calendars(settings: Any) -> dict[str, Calendar]:
    """The service desk's ``[[calendars]]`` (business hours), when configured:
    each entry's own calendar (``build()``, the one SLA clocks use), so a
    holiday or closure means the same to both; plain data is read by
    ``WeeklyHours.from_config``."""
    found: dict[str, Calendar] = {}
    for entry in getattr(settings, "calendars", None) or ():
        try:
            if hasattr(entry, "build"):
                desk = DeskCalendar(entry.build())
                found[desk.name] = desk
                continue
            data: Mapping[str, Any] = (
                entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
            )
            cal = WeeklyHours.from_config(data)
        except (InvalidModel, KeyError, TypeError, ValueError) as exc:
            name = getattr(entry, "name", None)
            log.warning("calendar %r cannot be used for scheduling: %s", name, exc)
            continue
        found[cal.name] = cal
    return found


def _runtime(request: Request) -> SchedulingRuntime:
    runtime: SchedulingRuntime = request.app.state.scheduling
    return runtime


def _duration(value: str | None, field: str, *, zero_ok: bool = False) -> timedelta:
    if value is None:
        return timedelta(0)
    try:
        return parse_duration(value, zero_ok=zero_ok)
    except ValueError as exc:
        raise BadRequest(f"{field}: {exc}", code="invalid_field") from None


def _clock(value: str | None, field: str) -> time | None:
    if value is None:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{field}: expected a time of day like '09:30'", code="invalid_field"
        ) from None


def _require_calendars(resources: Iterable[Resource]) -> None:
    """A resource without a calendar (created naming none, with no
    ``default_calendar``) is refused, never taken to work 24x7."""
    for r in resources:
        if r.calendar is None:
            raise BadRequest(
                f"resource {r.name!r} ({r.id}) has no working calendar; set"
                ' [scheduling] default_calendar ("24x7" for round the clock)',
                code="no_calendar",
            )


def _never(service: Service, start: datetime) -> BadRequest:
    return BadRequest(
        f"no set of resources is ever at work together for {service.name!r} in the"
        f" {EVER.days // 7} weeks from {_wire_time(start)}, even with nothing booked"
        " (check the duration and buffers against their working hours, same_site,"
        " earliest_start and latest_start)",
        code="unsatisfiable",
    )


def _bad(exc: InvalidModel) -> BadRequest | NotFound:
    if exc.code in ("unknown_resource",):
        return NotFound(str(exc), code=exc.code)
    return BadRequest(str(exc), code=exc.code if exc.code != "invalid" else "invalid_field")


async def _service(runtime: SchedulingRuntime, service_id: str) -> Service:
    service = await runtime.store.service(service_id)
    if service is None:
        raise NotFound(f"no service {service_id!r}", code="unknown_service")
    return service


# -- resources and services -----------------------------------------------------


async def create_resource(request: Request) -> Response:
    """Define a resource: a person, a piece of equipment or a facility.

    A resource works by a calendar (by name; ``"24x7"`` for round the
    clock): one that names none gets ``[scheduling] default_calendar``; with
    none of either it is stored, but a search or booking that would use it is
    refused (400 ``no_calendar``), never taken to work 24x7. ``closures`` are
    its own closed times (leave, maintenance), which must not overlap.
    ---
    tags: [scheduling]
    body: ResourceCreate
    responses:
      201: {description: "the resource"}
      400: {description: "invalid body, unknown calendar, unknown user, overlapping closures"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, *DEFINERS)
    body = await parse_body(request, ResourceCreate)
    runtime = _runtime(request)
    calendar = body.calendar or runtime.config.default_calendar
    known = ", ".join(sorted(runtime.calendars))
    if calendar is not None and calendar not in runtime.calendars:
        raise BadRequest(
            f"calendar: unknown calendar {calendar!r} (known: {known})",
            code="unknown_calendar",
        )
    skills = dict(body.skills)
    if body.user is not None:
        account = await services_of(request).store.user_by_name(body.user)
        if account is None:
            raise BadRequest(f"user: no account {body.user!r}", code="unknown_user")
        # An agent's routing skills serve unless the resource names its own.
        skills = skills or {k: int(v) for k, v in (account.skills or {}).items()}
    try:
        resource = Resource(
            id=new_id("res"),
            name=body.name,
            kind=body.kind,
            skills=skills,
            calendar=calendar,
            site=body.site,
            user=body.user,
            closures=tuple((c.start.astimezone(UTC), c.end.astimezone(UTC)) for c in body.closures),
        )
    except InvalidModel as exc:
        # Kinds and levels are checked by the body model: what is left is closures.
        raise BadRequest(f"closures: {exc}", code="invalid_field") from None
    now = _now()
    await runtime.store.create_resource(resource, now)
    return JSONResponse(resource_to_wire(resource, now), status_code=201)


async def list_resources(request: Request) -> Response:
    """Every resource.
    ---
    tags: [scheduling]
    responses:
      200: {description: "{resources: [...]}"}
    """
    await user_caller(request)
    resources = await _runtime(request).store.resources()
    return JSONResponse({"resources": [resource_to_wire(r) for r in resources]})


async def get_resource(request: Request) -> Response:
    """One resource.
    ---
    tags: [scheduling]
    responses:
      200: {description: "the resource"}
      404: {description: "no such resource"}
    """
    await user_caller(request)
    resource = await _runtime(request).store.resource(request.path_params["id"])
    if resource is None:
        raise NotFound("no such resource", code="unknown_resource")
    return JSONResponse(resource_to_wire(resource))


async def create_service(request: Request) -> Response:
    """Define a service: its duration, the resources it requires, buffers and constraints.

    A service that no resource can ever satisfy is refused (400
    ``unsatisfiable``) rather than later answering every search with nothing:
    no resource of a required kind and skill, too few distinct ones, or no set
    of them at work together for it in the next 8 weeks even with nothing booked.
    ---
    tags: [scheduling]
    body: ServiceCreate
    responses:
      201: {description: "the service"}
      400: {description: "invalid body, or no resource can meet a requirement"}
      403: {description: "not a supervisor or admin"}
      404: {description: "a required or preferred resource does not exist"}
    """
    await user_caller(request, *DEFINERS)
    body = await parse_body(request, ServiceCreate)
    runtime = _runtime(request)
    if isinstance(body.buffer, BufferBody):
        before = _duration(body.buffer.before, "buffer.before", zero_ok=True)
        after = _duration(body.buffer.after, "buffer.after", zero_ok=True)
    else:
        before = after = _duration(body.buffer, "buffer", zero_ok=True)
    try:
        zone(body.timezone)
        service = Service(
            id=new_id("svc"),
            name=body.name,
            duration=_duration(body.duration, "duration"),
            requires=tuple(Requirement(q.kind, q.skills, q.resource) for q in body.requires),
            buffer_before=before,
            buffer_after=after,
            same_site=body.same_site,
            preferred_resource=body.preferred_resource,
            earliest_start=_clock(body.earliest_start, "earliest_start"),
            latest_start=_clock(body.latest_start, "latest_start"),
            timezone=body.timezone,
        )
    except InvalidModel as exc:
        raise _bad(exc) from None
    resources = await runtime.resources()
    known = {r.id for r in resources}
    if service.preferred_resource is not None and service.preferred_resource not in known:
        raise NotFound(
            f"preferred_resource: unknown resource {service.preferred_resource!r}",
            code="unknown_resource",
        )
    try:
        schedule = Schedule(resources, runtime.calendars)
        candidates = schedule.check_satisfiable(service)
        _require_calendars(r for group in candidates for r in group)
        now = _now()
        possible = await asyncio.to_thread(
            schedule.first_possible, service, now, EVER, runtime.config.step
        )
    except InvalidModel as exc:
        raise _bad(exc) from None
    if possible is None:
        raise _never(service, now)
    await runtime.store.create_service(service, _now())
    return JSONResponse(service_to_wire(service), status_code=201)


async def list_services(request: Request) -> Response:
    """Every service.
    ---
    tags: [scheduling]
    responses:
      200: {description: "{services: [...]}"}
    """
    await user_caller(request)
    services = await _runtime(request).store.services()
    return JSONResponse({"services": [service_to_wire(s) for s in services]})


async def get_service(request: Request) -> Response:
    """One service.
    ---
    tags: [scheduling]
    responses:
      200: {description: "the service"}
      404: {description: "no such service"}
    """
    await user_caller(request)
    service = await _service(_runtime(request), request.path_params["id"])
    return JSONResponse(service_to_wire(service))


# -- search ---------------------------------------------------------------------


async def search_slots(request: Request) -> Response:
    """Find the best few slots for a service in a window, earliest first.

    Each slot is a start, an end and one resource per requirement, all free
    and at work for the whole visit (buffers included). At one start the
    resources are chosen by preference: the service's preferred resource,
    then the most proficient, the least booked that day, and the ones the
    customer had before (``customer_id``); ``prefer`` reorders the last three.
    ---
    tags: [scheduling]
    body: SearchBody
    responses:
      200: {description: "{slots: [{start, end, resources}]}"}
      400: {description: "invalid body, past window, unsatisfiable service, no calendar"}
      404: {description: "unknown service or customer"}
    """
    await user_caller(request)
    body = await parse_body(request, SearchBody)
    runtime = _runtime(request)
    config = runtime.config
    service = await _service(runtime, body.service_id)
    now = _now()
    start, until = body.from_.astimezone(UTC), body.until.astimezone(UTC)
    if until <= start:
        raise BadRequest(
            f"until ({until.isoformat()}) must be after from ({start.isoformat()})",
            code="invalid_window",
        )
    if until <= now:
        raise BadRequest("the window is in the past", code="window_in_past")
    start = max(start, now)
    if until - start < service.duration:
        length = service_to_wire(service)["duration"]
        raise BadRequest(
            f"the window (from now on) is shorter than the service ({length})",
            code="window_too_short",
        )
    if until - start > config.max_window:
        raise BadRequest(
            f"the window is longer than {config.max_window.days} days", code="invalid_window"
        )
    count = body.count or config.default_count
    if count > config.max_count:
        raise BadRequest(f"count: at most {config.max_count}", code="invalid_field")
    previous: frozenset[str] = frozenset()
    if body.customer_id is not None:
        if not await runtime.store.customer_exists(body.customer_id):
            raise NotFound(f"no customer {body.customer_id!r}", code="unknown_customer")
        previous = await runtime.store.previous_resources(body.customer_id)
    schedule, _ = await runtime.schedule_around(start, until)
    try:
        candidates = schedule.check_satisfiable(service)
    except InvalidModel as exc:
        raise _bad(exc) from None
    _require_calendars(r for group in candidates for r in group)
    try:
        search = SearchRequest(
            service,
            start,
            until,
            count=count,
            step=config.step,
            previous=previous,
            prefer=tuple(body.prefer) if body.prefer is not None else PREFERENCES,
        )
        slots = await asyncio.to_thread(schedule.search, search)
        # Nothing at all: told apart from "all booked" by asking again with
        # nothing booked, so a service that can never happen is an error.
        if not slots and (
            await asyncio.to_thread(schedule.first_possible, service, start, EVER, config.step)
            is None
        ):
            raise _never(service, start)
    except InvalidModel as exc:
        raise _bad(exc) from None
    return JSONResponse(
        {
            "service_id": service.id,
            "from": _wire_time(start),
            "until": _wire_time(until),
            "slots": [s.to_wire() for s in slots],
        }
    )


# -- appointments -----------------------------------------------------------------


async def _check_time(
    runtime: SchedulingRuntime,
    service: Service,
    start: datetime,
    resource_ids: list[str],
    *,
    exclude: Appointment | None = None,
) -> tuple[str, ...]:
    """Resource order for the booking, after checking working time, closures
    and booked time (the store checks booked time again, atomically)."""
    known = {r.id: r for r in await runtime.resources()}
    for rid in resource_ids:
        if rid not in known:
            raise NotFound(f"no resource {rid!r}", code="unknown_resource")
    _require_calendars(known[rid] for rid in resource_ids)
    schedule, _ = await runtime.schedule_around(
        start,
        start + service.duration,
        resource_ids,
        exclude=exclude.id if exclude is not None else None,
    )
    try:
        return schedule.check_booking(service, start, resource_ids)
    except InvalidModel as exc:
        raise _bad(exc) from None
    except SlotTaken as exc:
        raise Conflict(str(exc), code="slot_taken") from None


async def create_appointment(request: Request) -> Response:
    """Book a service at a time with its resources.

    Atomic: when two bookings race for a resource, one gets 201 and the
    other 409 ``slot_taken``; 409 too when a resource is off work or closed then.
    ---
    tags: [scheduling]
    body: AppointmentCreate
    responses:
      201: {description: "the appointment"}
      400: {description: "invalid body, a past start, resources that do not fit"}
      404: {description: "unknown service, resource or customer"}
      409: {description: "a resource is taken, closed or off work then"}
    """
    who = await user_caller(request)
    body = await parse_body(request, AppointmentCreate)
    runtime = _runtime(request)
    service = await _service(runtime, body.service_id)
    start = body.start.astimezone(UTC)
    now = _now()
    if start < now:
        raise BadRequest("start is in the past", code="in_past")
    if body.timezone is not None:
        try:
            zone(body.timezone)
        except InvalidModel as exc:
            raise BadRequest(f"timezone: {exc}", code="unknown_timezone") from None
    customer_id, case_id = body.customer_id, body.case_id
    if body.conversation_id is not None:
        # Booked from a conversation: its customer and case unless given.
        try:
            conversation = await services_of(request).store.get_conversation(body.conversation_id)
        except ConversationNotFound:
            raise NotFound(
                f"no conversation {body.conversation_id!r}", code="unknown_conversation"
            ) from None
        customer_id = customer_id or conversation.customer.id
        case_id = case_id or conversation.case_id
    if case_id is not None:
        exists, case_customer = await runtime.store.case_customer(case_id)
        if not exists:
            raise NotFound(f"no case {case_id!r}", code="unknown_case")
        customer_id = customer_id or case_customer
    if customer_id is not None and not await runtime.store.customer_exists(customer_id):
        raise NotFound(f"no customer {customer_id!r}", code="unknown_customer")
    ordered = await _check_time(runtime, service, start, list(body.resources))
    try:
        appointment = await runtime.store.book(
            service=service,
            start=start,
            resource_ids=ordered,
            customer_id=customer_id,
            case_id=case_id,
            conversation_id=body.conversation_id,
            timezone=body.timezone,
            created_by=who.id,
            now=now,
            reminder_at=runtime.reminder_at(start, now),
        )
    except SlotTaken as exc:
        raise Conflict(str(exc), code="slot_taken") from None
    runtime.notifier.tell(appointment, "confirmation")
    await _case_activity(request, appointment, service, "task", "Appointment booked", who.id)
    return JSONResponse(appointment.to_wire(), status_code=201)


async def _appointment(runtime: SchedulingRuntime, appointment_id: str) -> Appointment:
    found = await runtime.store.appointment(appointment_id)
    if found is None:
        raise NotFound("no such appointment", code="unknown_appointment")
    return found


async def get_appointment(request: Request) -> Response:
    """One appointment, with its reschedule and status history.
    ---
    tags: [scheduling]
    responses:
      200: {description: "the appointment"}
      404: {description: "no such appointment"}
    """
    await user_caller(request)
    found = await _appointment(_runtime(request), request.path_params["id"])
    return JSONResponse(found.to_wire())


def _query_time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(
            f"{name}: expected an RFC 3339 time, got {raw!r}", code="invalid_field"
        ) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: the time needs an offset or Z", code="invalid_field")
    return moment.astimezone(UTC)


async def list_appointments(request: Request) -> Response:
    """Appointments, by resource and time (a supervisor's day view), customer, case
    or conversation, in start order.
    ---
    tags: [scheduling]
    parameters:
      - {name: resource, in: query, schema: {type: string}}
      - {name: from, in: query, schema: {type: string, format: date-time}}
      - {name: until, in: query, schema: {type: string, format: date-time}}
      - {name: customer_id, in: query, schema: {type: string}}
      - {name: case_id, in: query, schema: {type: string}}
      - {name: conversation_id, in: query, schema: {type: string}}
      - {name: status, in: query, schema: {type: string}}
    responses:
      200: {description: "{appointments: [...]}"}
      400: {description: "a bad time or an inverted window"}
      404: {description: "unknown resource"}
    """
    await user_caller(request)
    runtime = _runtime(request)
    params = request.query_params
    start, until = _query_time(request, "from"), _query_time(request, "until")
    if start is not None and until is not None and until <= start:
        raise BadRequest("until must be after from", code="invalid_window")
    resource = params.get("resource") or None
    if resource is not None and await runtime.store.resource(resource) is None:
        raise NotFound(f"no resource {resource!r}", code="unknown_resource")
    status = params.get("status") or None
    if status is not None and status not in (
        "scheduled",
        "in_progress",
        "completed",
        "cancelled",
        "no_show",
    ):
        raise BadRequest(f"status: unknown status {status!r}", code="invalid_field")
    found = await runtime.store.list_appointments(
        resource_id=resource,
        start=start,
        end=until,
        customer_id=params.get("customer_id") or None,
        case_id=params.get("case_id") or None,
        conversation_id=params.get("conversation_id") or None,
        status=status,
    )
    return JSONResponse({"appointments": [a.to_wire() for a in found]})


async def _change(request: Request, target: str) -> Response:
    who = await user_caller(request)
    runtime = _runtime(request)
    try:
        changed = await runtime.store.change_status(
            request.path_params["id"], target, by=who.id, now=_now()
        )
    except IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from None
    if changed is None:
        raise NotFound("no such appointment", code="unknown_appointment")
    if target == "cancelled":
        runtime.notifier.tell(changed, "cancelled")
    service = await runtime.store.service(changed.service_id)
    if service is not None:
        what = f"Appointment {_words(target)}"
        await _case_activity(request, changed, service, "note", what, who.id)
    return JSONResponse(changed.to_wire())


async def cancel_appointment(request: Request) -> Response:
    """Cancel an appointment; its resources are free again at once.
    ---
    tags: [scheduling]
    responses:
      200: {description: "the cancelled appointment"}
      404: {description: "no such appointment"}
      409: {description: "already cancelled, completed or a no-show"}
    """
    return await _change(request, "cancelled")


async def transition_appointment(request: Request) -> Response:
    """Move an appointment on: ``in_progress``, ``completed``, ``no_show`` or ``cancelled``.
    ---
    tags: [scheduling]
    body: TransitionBody
    responses:
      200: {description: "the appointment"}
      400: {description: "invalid body"}
      404: {description: "no such appointment"}
      409: {description: "the status table does not allow it"}
    """
    await user_caller(request)  # who, before what: strangers learn nothing of the body
    body = await parse_body(request, TransitionBody)
    return await _change(request, body.to)


async def reschedule_appointment(request: Request) -> Response:
    """Move a scheduled appointment to a new start (and optionally other
    resources); the old time goes into its history and is freed.
    ---
    tags: [scheduling]
    body: RescheduleBody
    responses:
      200: {description: "the appointment"}
      400: {description: "invalid body, a start in the past"}
      404: {description: "no such appointment or resource"}
      409: {description: "taken or off work then, or the appointment is not scheduled"}
    """
    who = await user_caller(request)
    body = await parse_body(request, RescheduleBody)
    runtime = _runtime(request)
    current = await _appointment(runtime, request.path_params["id"])
    if current.status != "scheduled":
        raise Conflict(
            f"a {current.status} appointment cannot be rescheduled", code="illegal_transition"
        )
    service = await _service(runtime, current.service_id)
    start = body.start.astimezone(UTC)
    now = _now()
    if start < now:
        raise BadRequest("start is in the past", code="in_past")
    wanted = list(body.resources) if body.resources is not None else list(current.resources)
    ordered = await _check_time(runtime, service, start, wanted, exclude=current)
    try:
        moved = await runtime.store.reschedule(
            current.id,
            service=service,
            start=start,
            resource_ids=ordered,
            by=who.id,
            now=now,
            reminder_at=runtime.reminder_at(start, now),
        )
    except SlotTaken as exc:
        raise Conflict(str(exc), code="slot_taken") from None
    except IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from None
    if moved is None:
        raise NotFound("no such appointment", code="unknown_appointment")
    runtime.notifier.tell(moved, "rescheduled")
    await _case_activity(request, moved, service, "note", "Appointment moved", who.id)
    return JSONResponse(moved.to_wire())


def _words(status: str) -> str:
    return status.replace("_", " ")


async def _case_activity(
    request: Request,
    appointment: Appointment,
    service: Service,
    kind: str,
    what: str,
    actor: str,
) -> None:
    """Put the appointment on its case's timeline (through the case runtime,
    when cases run); a failure there never undoes the booking."""
    cases = services_of(request).cases
    if cases is None or appointment.case_id is None:
        return
    text = (
        f"{what}: {service.name}, {_wire_time(appointment.start)} to"
        f" {_wire_time(appointment.end)} ({appointment.id})"
    )
    try:
        await cases.add_activity(
            appointment.case_id, kind, text=text, minutes=0, billable=False, actor=actor
        )
    except Exception:
        log.warning("appointment %s: not put on case %s", appointment.id, appointment.case_id)


def _wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


routes = [
    Route("/api/v1/resources", create_resource, methods=["POST"]),
    Route("/api/v1/resources", list_resources, methods=["GET"]),
    Route("/api/v1/resources/{id}", get_resource, methods=["GET"]),
    Route("/api/v1/services", create_service, methods=["POST"]),
    Route("/api/v1/services", list_services, methods=["GET"]),
    Route("/api/v1/services/{id}", get_service, methods=["GET"]),
    Route("/api/v1/schedule/search", search_slots, methods=["POST"]),
    Route("/api/v1/appointments", create_appointment, methods=["POST"]),
    Route("/api/v1/appointments", list_appointments, methods=["GET"]),
    Route("/api/v1/appointments/{id}", get_appointment, methods=["GET"]),
    Route("/api/v1/appointments/{id}/cancel", cancel_appointment, methods=["POST"]),
    Route("/api/v1/appointments/{id}/transition", transition_appointment, methods=["POST"]),
    Route("/api/v1/appointments/{id}/reschedule", reschedule_appointment, methods=["POST"]),
]
