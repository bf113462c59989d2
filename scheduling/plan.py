"""Building a day's plan by booking requests in arrival order.

Each request is a service and the window the customer can do. ``first_fit``
is the baseline every booking tool starts with: the earliest start, the first
resources (by id) that fit. ``best_fit`` looks at every start in the window
and picks the booking that wastes least: it prefers to sit flush against
other bookings or the edges of working time rather than leave gaps too short
for any service (``min_gap``), and among equally tight fits it spends the
least versatile resources (spare skill levels and skills the request does not
need), keeping generalists free for requests only they can serve. Ties go to
the earlier start. Both are the same search underneath (``Schedule``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from scheduling.intervals import Interval, to_datetime, to_seconds
from scheduling.model import Resource, Service
from scheduling.search import Booking, Cost, Schedule, SearchRequest, Slot, assign

Policy = Literal["first_fit", "best_fit"]


@dataclass(frozen=True, slots=True)
class PlanRequest:
    service: Service
    start: datetime
    end: datetime


@dataclass
class PlanResult:
    booked: list[tuple[PlanRequest, Slot | None]] = field(default_factory=list)

    @property
    def served(self) -> int:
        return sum(1 for _, slot in self.booked if slot is not None)

    def booked_seconds(self) -> int:
        return sum(
            int((slot.end - slot.start).total_seconds()) * len(slot.resources)
            for _, slot in self.booked
            if slot is not None
        )


def plan(
    schedule: Schedule,
    requests: Sequence[PlanRequest],
    policy: Policy,
    *,
    step: timedelta = timedelta(minutes=15),
    min_gap: timedelta = timedelta(minutes=30),
) -> PlanResult:
    """Book ``requests`` one after another into ``schedule`` (which is changed)."""
    result = PlanResult()
    for request in requests:
        search = SearchRequest(request.service, request.start, request.end, 1, step, prefer=())
        slot = (
            _first(schedule, search)
            if policy == "first_fit"
            else _best(schedule, search, int(min_gap.total_seconds()))
        )
        if slot is not None:
            service = request.service
            t = to_seconds(slot.start)
            for rid in slot.resources:
                schedule.add(
                    Booking(rid, t - service.before_s, t + service.seconds + service.after_s)
                )
        result.booked.append((request, slot))
    return result


def _first(schedule: Schedule, search: SearchRequest) -> Slot | None:
    slots = schedule.search(search)
    return slots[0] if slots else None


def _best(schedule: Schedule, search: SearchRequest, min_gap: int) -> Slot | None:
    service = search.service
    ws, we = to_seconds(search.start), to_seconds(search.end)
    free: dict[str, list[Interval]] = {}

    def waste(resource: Resource, requirement: int, t: int) -> Cost:
        if resource.id not in free:
            free[resource.id] = schedule.free(
                resource, ws - service.before_s - 86400, we + service.after_s + 86400
            )
        a, b = t - service.before_s, t + service.seconds + service.after_s
        gap = 0
        for lo, hi in free[resource.id]:
            if lo <= a and b <= hi:
                left, right = a - lo, hi - b
                gap = (left if 0 < left < min_gap else 0) + (right if 0 < right < min_gap else 0)
                break
        q = service.requires[requirement]
        spare = sum(lvl - q.skills.get(s, 0) for s, lvl in resource.skills.items())
        return (gap, spare)

    best: tuple[Cost, int, tuple[str, ...]] | None = None
    for t, feasible in schedule.feasible_starts(search):
        chosen = assign(feasible, waste, service.same_site, t)
        if chosen is None:
            continue
        ids, cost = chosen
        if best is None or (cost, t) < (best[0], best[1]):
            best = (cost, t, ids)
            if cost == (0, 0):
                break
    if best is None:
        return None
    _, t, ids = best
    return Slot(to_datetime(t), to_datetime(t + service.seconds), ids, best[0])
