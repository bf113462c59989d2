"""The exhaustive slot search, the yardstick for ``Schedule.search``.

It tries every start on the grid and every combination of resources at it,
checking each resource directly against its calendar, closures and every
booking. Slow and obviously right; the property tests hold the fast search
to the same answer (same starts, same resources, same cost).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from scheduling.calendars import Calendar, zone
from scheduling.intervals import to_datetime, to_seconds
from scheduling.model import Resource, Service
from scheduling.search import Booking, Cost, SearchRequest, Slot


def reference_search(
    resources: Iterable[Resource],
    calendars: Mapping[str, Calendar],
    bookings: Sequence[Booking],
    request: SearchRequest,
) -> list[Slot]:
    service = request.service
    pool = sorted(resources, key=lambda r: r.id)
    step = int(request.step.total_seconds())
    ws, we = to_seconds(request.start), to_seconds(request.end)
    t = -(-ws // step) * step
    slots: list[Slot] = []
    while t + service.seconds <= we and len(slots) < request.count:
        if _time_of_day_ok(service, t):
            best = _best_at(pool, calendars, bookings, request, t)
            if best is not None:
                cost, ids = best
                slots.append(Slot(to_datetime(t), to_datetime(t + service.seconds), ids, cost))
        t += step
    return slots


def valid_at(
    resource: Resource,
    calendars: Mapping[str, Calendar],
    bookings: Sequence[Booking],
    service: Service,
    t: int,
) -> bool:
    """Whether the resource can take the whole occupied span of ``service`` at ``t``."""
    a, b = t - service.before_s, t + service.seconds + service.after_s
    if resource.calendar is not None:
        cal = calendars[resource.calendar]
        opened = cal.open_intervals(to_datetime(a - 86400), to_datetime(b + 86400))
        if not any(to_seconds(x) <= a and b <= to_seconds(y) for x, y in opened):
            return False
    for x, y in resource.closures:
        if to_seconds(x) < b and a < to_seconds(y):
            return False
    return not any(bk.resource_id == resource.id and bk.start < b and a < bk.end for bk in bookings)


def _best_at(
    pool: Sequence[Resource],
    calendars: Mapping[str, Calendar],
    bookings: Sequence[Booking],
    request: SearchRequest,
    t: int,
) -> tuple[Cost, tuple[str, ...]] | None:
    service = request.service
    options = [
        [r for r in pool if q.accepts(r) and valid_at(r, calendars, bookings, service, t)]
        for q in service.requires
    ]
    best: tuple[Cost, tuple[str, ...]] | None = None
    for combo in itertools.product(*options):
        ids = tuple(r.id for r in combo)
        if len(set(ids)) != len(ids):
            continue
        if service.same_site and len({r.site for r in combo} - {None}) > 1:
            continue
        parts = [_cost(r, i, bookings, request, t) for i, r in enumerate(combo)]
        total = tuple(sum(c) for c in zip(*parts, strict=True))
        if best is None or (total, ids) < best:
            best = (total, ids)
    return best


def _cost(
    resource: Resource, i: int, bookings: Sequence[Booking], request: SearchRequest, t: int
) -> Cost:
    service = request.service
    q = service.requires[i]
    cost = [0 if resource.id == service.preferred_resource else 1]
    for p in request.prefer:
        if p == "proficiency":
            cost.append(-sum(resource.skills.get(s, 0) for s in q.skills))
        elif p == "least_booked":
            tz = zone(service.timezone)
            day = datetime.fromtimestamp(t, tz).date()
            a = to_seconds(datetime.combine(day, datetime.min.time(), tz))
            b = to_seconds(datetime.combine(day + timedelta(days=1), datetime.min.time(), tz))
            cost.append(
                sum(
                    max(0, min(bk.end, b) - max(bk.start, a))
                    for bk in bookings
                    if bk.resource_id == resource.id
                )
            )
        else:
            cost.append(0 if resource.id in request.previous else 1)
    return tuple(cost)


def _time_of_day_ok(service: Service, t: int) -> bool:
    local = datetime.fromtimestamp(t, zone(service.timezone)).time()
    if service.earliest_start is not None and local < service.earliest_start:
        return False
    return service.latest_start is None or local <= service.latest_start
