"""Slot search: when a service can happen, and with which resources.

``Schedule`` holds what is known (resources, their calendars and closures,
the time already booked) and answers ``search``: the earliest starts on a
grid (every ``step``, aligned to the epoch) inside a window at which every
requirement of the service can be met by a distinct resource whose whole
occupied span (buffers included) lies inside its working time and clear of
its closures and other bookings. One slot per start, earliest first; at one
start the resources are chosen by preference (``Preference``), ties broken by
resource id, so the answer is deterministic.

The fast path sweeps intervals: each candidate's free time becomes the set of
starts it can take, the union over a requirement's candidates and the
intersection over requirements leave only starts worth looking at, and only
there are resources matched. A requirement needs at most as many candidates
as there are requirements (any other is swapped for an unused better one
without loss), so matching enumerates a handful of sets; services with many
requirements go to OR-Tools CP-SAT (``assign``). ``reference_search`` is the
plain exhaustive version the tests hold the fast one to.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from scheduling.calendars import Calendar, open_seconds, zone
from scheduling.errors import InvalidModel, SlotTaken
from scheduling.intervals import (
    Interval,
    contains_point,
    covers,
    normalise,
    overlaps,
    subtract,
    to_datetime,
    to_seconds,
)
from scheduling.model import Requirement, Resource, Service

Preference = Literal["proficiency", "least_booked", "previous"]
PREFERENCES: tuple[Preference, ...] = ("proficiency", "least_booked", "previous")
DEFAULT_STEP = timedelta(minutes=15)
CHUNK_S = 86_400
"""The first stretch of a window searched; each next one is twice as long."""
ENUMERATE_UP_TO = 4
"""Services with more requirements than this are matched by CP-SAT."""

Cost = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Booking:
    """Time a resource is taken: an appointment's span with its buffers."""

    resource_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    resources: tuple[str, ...]
    """One per requirement, in the service's order."""
    cost: Cost = ()

    def to_wire(self) -> dict[str, object]:
        return {
            "start": _rfc3339(self.start),
            "end": _rfc3339(self.end),
            "resources": list(self.resources),
        }


@dataclass(frozen=True)
class SearchRequest:
    """Args of a search.

    Args:
        service: what to book.
        start, end: the window; a slot starts and ends inside it.
        count: how many slots (distinct starts) at most.
        step: the grid of start times.
        previous: resources the customer had before.
        prefer: the order of preferences after the service's preferred resource.
    """

    service: Service
    start: datetime
    end: datetime
    count: int = 5
    step: timedelta = DEFAULT_STEP
    previous: frozenset[str] = frozenset()
    prefer: tuple[Preference, ...] = PREFERENCES

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidModel("the window needs time zone offsets", code="invalid_window")
        if self.end <= self.start:
            raise InvalidModel(
                f"the window ends ({_rfc3339(self.end)}) before it starts ({_rfc3339(self.start)})",
                code="invalid_window",
            )
        if self.end - self.start > timedelta(days=62):
            raise InvalidModel("the window is longer than 62 days", code="invalid_window")
        if self.count < 1:
            raise InvalidModel("count must be at least 1")
        if self.step < timedelta(minutes=1):
            raise InvalidModel("step must be at least 1 minute")
        for p in self.prefer:
            if p not in PREFERENCES:
                raise InvalidModel(f"unknown preference {p!r}")


class Schedule:
    """Resources, calendars and bookings, indexed for search and booking checks.

    Args:
        resources: every resource.
        calendars: by name; a resource whose calendar is missing here raises.
        bookings: time already taken.
    """

    def __init__(
        self,
        resources: Iterable[Resource],
        calendars: Mapping[str, Calendar],
        bookings: Iterable[Booking] = (),
    ) -> None:
        self.resources = {r.id: r for r in resources}
        self.calendars = dict(calendars)
        for r in self.resources.values():
            if r.calendar is not None and r.calendar not in self.calendars:
                raise InvalidModel(
                    f"resource {r.name!r}: unknown calendar {r.calendar!r}",
                    code="unknown_calendar",
                )
        self._closed = {
            r.id: normalise((to_seconds(a), to_seconds(b)) for a, b in r.closures)
            for r in self.resources.values()
        }
        self._booked: dict[str, list[Interval]] = {}
        for b in bookings:
            self._booked.setdefault(b.resource_id, []).append((b.start, b.end))
        for rid, spans in self._booked.items():
            spans.sort()
            self._booked[rid] = spans
        self._candidates: dict[tuple[object, ...], list[Resource]] = {}
        self._by_kind: dict[str, list[Resource]] = {}
        for r in sorted(self.resources.values(), key=lambda r: r.id):
            self._by_kind.setdefault(r.kind, []).append(r)

    # -- bookings ----------------------------------------------------------

    def add(self, booking: Booking) -> None:
        spans = self._booked.setdefault(booking.resource_id, [])
        spans.insert(bisect_left(spans, (booking.start, booking.end)), (booking.start, booking.end))

    def remove(self, booking: Booking) -> None:
        self._booked[booking.resource_id].remove((booking.start, booking.end))

    def booked(self, resource_id: str, start: int, end: int) -> list[Interval]:
        """Bookings of a resource that overlap ``[start, end)``, in order (they
        may overlap one another if the caller allowed it)."""
        spans = self._booked.get(resource_id, [])
        # A booking that starts before ``start`` may still reach into it.
        i = bisect_left(spans, (start, start))
        while i > 0 and spans[i - 1][1] > start:
            i -= 1
        out = []
        while i < len(spans) and spans[i][0] < end:
            if spans[i][1] > start:
                out.append(spans[i])
            i += 1
        return out

    # -- checks ------------------------------------------------------------

    def candidates(self, requirement: Requirement) -> list[Resource]:
        key = (requirement.kind, tuple(sorted(requirement.skills.items())), requirement.resource)
        found = self._candidates.get(key)
        if found is None:
            found = [r for r in self._by_kind.get(requirement.kind, ()) if requirement.accepts(r)]
            self._candidates[key] = found
        return found

    def check_satisfiable(self, service: Service) -> list[list[Resource]]:
        """The candidates of each requirement; ``InvalidModel`` when one has none
        or when no distinct resources can cover them all (never "no time free")."""
        found = []
        for i, q in enumerate(service.requires):
            if q.resource is not None and q.resource not in self.resources:
                raise InvalidModel(
                    f"requires[{i}]: unknown resource {q.resource!r}", code="unknown_resource"
                )
            c = self.candidates(q)
            if not c:
                raise InvalidModel(
                    f"requires[{i}]: no resource is a {q.describe()}", code="unsatisfiable"
                )
            found.append(c)
        if _match([[r.id for r in c] for c in found]) is None:
            raise InvalidModel(
                "requires: not enough distinct resources to meet every requirement at once",
                code="unsatisfiable",
            )
        return found

    def free(self, resource: Resource, start: int, end: int) -> list[Interval]:
        """When the resource is open and not taken, within ``[start, end)``."""
        return self._free(resource, start, end, {})

    def _free(
        self, resource: Resource, start: int, end: int, cache: dict[str | None, list[Interval]]
    ) -> list[Interval]:
        key = resource.calendar
        if key not in cache:
            cal = self.calendars.get(key) if key is not None else None
            cache[key] = open_seconds(cal, start, end)
        spans = cache[key]
        closed = self._closed.get(resource.id)
        if closed:
            spans = subtract(spans, closed)
        booked = self.booked(resource.id, start, end)
        if booked:
            spans = subtract(spans, normalise(booked))
        return spans

    def check_booking(
        self, service: Service, start: datetime, resource_ids: Sequence[str]
    ) -> tuple[str, ...]:
        """Resources for ``service`` at ``start`` in requirement order.

        Raises:
            InvalidModel: an unknown resource, or resources that do not meet the
                requirements (code ``resources_mismatch``).
            SlotTaken: a resource is off work, closed or booked then.
        """
        for rid in resource_ids:
            if rid not in self.resources:
                raise InvalidModel(f"unknown resource {rid!r}", code="unknown_resource")
        if len(set(resource_ids)) != len(resource_ids):
            raise InvalidModel("a resource is listed twice", code="resources_mismatch")
        if len(resource_ids) != len(service.requires):
            raise InvalidModel(
                f"the service needs {len(service.requires)} resources, got {len(resource_ids)}",
                code="resources_mismatch",
            )
        accept = [
            [rid for rid in resource_ids if q.accepts(self.resources[rid])]
            for q in service.requires
        ]
        in_order = all(
            q.accepts(self.resources[rid])
            for q, rid in zip(service.requires, resource_ids, strict=True)
        )
        ordered = list(resource_ids) if in_order else _match(accept)
        if ordered is None:
            needs = "; ".join(q.describe() for q in service.requires)
            raise InvalidModel(
                f"the resources do not meet the service's requirements ({needs})",
                code="resources_mismatch",
            )
        t = to_seconds(start)
        span = (t - service.before_s, t + service.seconds + service.after_s)
        if service.same_site:
            sites = {self.resources[rid].site for rid in ordered} - {None}
            if len(sites) > 1:
                raise InvalidModel(
                    "the service needs all resources at one site", code="resources_mismatch"
                )
        for rid in ordered:
            r = self.resources[rid]
            cal = self.calendars.get(r.calendar) if r.calendar is not None else None
            if not covers(open_seconds(cal, span[0], span[1]), span[0], span[1]):
                raise SlotTaken(f"{r.name} is not working then", resource_id=rid)
            if overlaps(self._closed.get(rid, []), span[0], span[1]):
                raise SlotTaken(f"{r.name} is closed then", resource_id=rid)
            if self.booked(rid, span[0], span[1]):
                raise SlotTaken(f"{r.name} is already booked then", resource_id=rid)
        return tuple(ordered)

    # -- search ------------------------------------------------------------

    def search(self, request: SearchRequest) -> list[Slot]:
        """The best ``request.count`` slots, earliest first (see the module doc)."""
        service = request.service
        costs = _Costs(self, request)
        slots: list[Slot] = []
        for t, feasible in self.feasible_starts(request):
            chosen = assign(feasible, costs.of, service.same_site, t)
            if chosen is None:
                continue
            ids, cost = chosen
            slots.append(Slot(to_datetime(t), to_datetime(t + service.seconds), ids, cost))
            if len(slots) >= request.count:
                break
        return slots

    def feasible_starts(
        self, request: SearchRequest
    ) -> Iterator[tuple[int, list[list[tuple[Resource, int]]]]]:
        """Each start on the grid, in order, at which every requirement has a
        candidate free for the whole span, with those candidates per
        requirement (each with the requirement's index for costing)."""
        service = request.service
        per_requirement = self.check_satisfiable(service)
        ws, we = to_seconds(request.start), to_seconds(request.end)
        lo_t, hi_t = ws, we - service.seconds
        step = int(request.step.total_seconds())
        # Chunks of growing length: the earliest slots are usually in the first
        # day, so most searches never look at the rest of a long window.
        chunk = CHUNK_S
        while lo_t <= hi_t:
            last = min(hi_t, lo_t + chunk - 1)
            yield from self._feasible_in(request, per_requirement, lo_t, last, step)
            lo_t, chunk = last + 1, chunk * 2

    def _feasible_in(
        self,
        request: SearchRequest,
        per_requirement: list[list[Resource]],
        lo_t: int,
        hi_t: int,
        step: int,
    ) -> Iterator[tuple[int, list[list[tuple[Resource, int]]]]]:
        """``feasible_starts`` for starts in ``[lo_t, hi_t]``."""
        service = request.service
        before, dur, after = service.before_s, service.seconds, service.after_s
        need = before + dur + after
        cache: dict[str | None, list[Interval]] = {}
        starts_of: dict[str, list[Interval]] = {}
        for group in per_requirement:
            for r in group:
                if r.id in starts_of:
                    continue
                free = self._free(r, lo_t - before, hi_t + dur + after, cache)
                starts_of[r.id] = [(a + before, b - dur - after) for a, b in free if b - a >= need]
        window: list[Interval] = [(lo_t, hi_t)]
        for group in per_requirement:
            window = _intersect_closed(
                window, _union_closed(s for r in group for s in starts_of[r.id])
            )
            if not window:
                return
        day_ok = _time_of_day_filter(service)
        for lo, hi in window:
            t = -(-lo // step) * step
            while t <= hi:
                if day_ok is not None and not day_ok(t):
                    t += step
                    continue
                feasible = [
                    [(r, i) for r in group if contains_point(starts_of[r.id], t)]
                    for i, group in enumerate(per_requirement)
                ]
                if all(feasible):
                    yield t, feasible
                t += step

    def first_possible(
        self, service: Service, start: datetime, horizon: timedelta, step: timedelta
    ) -> Slot | None:
        """The first slot the service could take in ``[start, start + horizon)``
        were nothing booked: ``None`` means no set of resources is ever at work
        together for it then (a duration or buffers longer than any shared
        working stretch, sites that never match, time-of-day limits outside
        working hours), which is bad input, not "no time free"."""
        empty = Schedule(self.resources.values(), self.calendars)
        found = empty.search(SearchRequest(service, start, start + horizon, count=1, step=step))
        return found[0] if found else None

    def booked_seconds(self, resource_id: str, start: int, end: int) -> int:
        """Seconds of ``[start, end)`` the resource is booked."""
        return sum(min(e, end) - max(s, start) for s, e in self.booked(resource_id, start, end))


def _local_day(t: int, tz_name: str) -> tuple[int, int]:
    """The local day (in ``tz_name``) around ``t``, as epoch seconds."""
    tz = zone(tz_name)
    day = datetime.fromtimestamp(t, tz).date()
    a = to_seconds(datetime.combine(day, datetime.min.time(), tz))
    b = to_seconds(datetime.combine(day + timedelta(days=1), datetime.min.time(), tz))
    return a, b


@dataclass
class _Costs:
    """Per-resource costs at a start, memoised per local day for ``least_booked``."""

    schedule: Schedule
    request: SearchRequest
    _day: dict[tuple[str, int], int] = field(default_factory=dict)
    _bounds: dict[int, tuple[int, int]] = field(default_factory=dict)

    def of(self, resource: Resource, requirement: int, t: int) -> Cost:
        service = self.request.service
        q = service.requires[requirement]
        cost = [0 if resource.id == service.preferred_resource else 1]
        for p in self.request.prefer:
            if p == "proficiency":
                cost.append(-q.proficiency(resource))
            elif p == "least_booked":
                hour = t // 3600
                bounds = self._bounds.get(hour)
                if bounds is None:
                    bounds = self._bounds[hour] = _local_day(t, service.timezone)
                key = (resource.id, bounds[0])
                booked = self._day.get(key)
                if booked is None:
                    booked = self._day[key] = self.schedule.booked_seconds(resource.id, *bounds)
                cost.append(booked)
            else:
                cost.append(0 if resource.id in self.request.previous else 1)
        return tuple(cost)


CostFn = Callable[[Resource, int, int], Cost]


def assign(
    feasible: list[list[tuple[Resource, int]]],
    cost_of: CostFn,
    same_site: bool,
    start: int,
) -> tuple[tuple[str, ...], Cost] | None:
    """The cheapest distinct resources, one per requirement, or ``None``.

    Cost is the componentwise sum of per-resource costs ``cost_of(resource,
    requirement index, start)``, compared as a tuple; ties go to the smallest
    tuple of ids. ``feasible[i]`` lists requirement ``i``'s candidates free
    at ``start``. With ``same_site`` all chosen resources that have a site
    share it.
    """
    if not feasible:
        return None
    groups: list[list[list[tuple[Resource, int]]]]
    if same_site:
        sites = sorted({r.site for g in feasible for r, _ in g if r.site is not None})
        groups = (
            [[[(r, i) for r, i in g if r.site in (s, None)] for g in feasible] for s in sites]
            if sites
            else [feasible]
        )
    else:
        groups = [feasible]
    best: tuple[Cost, tuple[str, ...]] | None = None
    n = len(feasible)
    for group in groups:
        if not all(group):
            continue
        ranked = [
            sorted(((cost_of(r, i, start), r.id) for r, i in g), key=lambda x: (x[0], x[1]))
            for g in group
        ]
        found = _enumerate([g[:n] for g in ranked]) if n <= ENUMERATE_UP_TO else _cp_sat(ranked)
        if found is not None and (best is None or found < best):
            best = found
    if best is None:
        return None
    return best[1], best[0]


def _enumerate(ranked: list[list[tuple[Cost, str]]]) -> tuple[Cost, tuple[str, ...]] | None:
    best: tuple[Cost, tuple[str, ...]] | None = None
    for combo in itertools.product(*ranked):
        ids = tuple(rid for _, rid in combo)
        if len(set(ids)) != len(ids):
            continue
        total = tuple(sum(c) for c in zip(*(cost for cost, _ in combo), strict=True))
        if best is None or (total, ids) < best:
            best = (total, ids)
    return best


def _cp_sat(ranked: list[list[tuple[Cost, str]]]) -> tuple[Cost, tuple[str, ...]] | None:
    """Minimum-cost matching of requirements to distinct resources with CP-SAT:
    a boolean per (requirement, candidate), one per requirement, at most one
    requirement per resource; the tuple cost is folded into one integer so
    that its components weigh lexicographically."""
    from ortools.sat.python import cp_model

    n = len(ranked)
    width = len(ranked[0][0][0])
    lows = [min(c[0][k] for g in ranked for c in g) for k in range(width)]
    spans = [max(c[0][k] for g in ranked for c in g) - lows[k] + 1 for k in range(width)]
    weights = [1] * width
    for k in range(width - 2, -1, -1):
        weights[k] = weights[k + 1] * spans[k + 1] * n
    model = cp_model.CpModel()
    chosen: dict[tuple[int, int], cp_model.IntVar] = {}
    by_resource: dict[str, list[cp_model.IntVar]] = {}
    objective = []
    for i, group in enumerate(ranked):
        for j, (cost, rid) in enumerate(group):
            var = model.new_bool_var(f"x{i}_{j}")
            chosen[i, j] = var
            by_resource.setdefault(rid, []).append(var)
            value = sum(w * (c - lo) for w, c, lo in zip(weights, cost, lows, strict=True))
            objective.append(value * var)
        model.add_exactly_one(chosen[i, j] for j in range(len(group)))
    for vars_ in by_resource.values():
        model.add_at_most_one(vars_)
    model.minimize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 2.0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    ids = []
    costs = []
    for i, group in enumerate(ranked):
        for j, (cost, rid) in enumerate(group):
            if solver.value(chosen[i, j]):
                ids.append(rid)
                costs.append(cost)
    total = tuple(sum(c) for c in zip(*costs, strict=True))
    return total, tuple(ids)


def _match(accept: list[list[str]]) -> list[str] | None:
    """Distinct ids, one per list (a bipartite matching by augmenting paths)."""
    owner: dict[str, int] = {}

    def place(i: int, seen: set[str]) -> bool:
        for rid in accept[i]:
            if rid in seen:
                continue
            seen.add(rid)
            if rid not in owner or place(owner[rid], seen):
                owner[rid] = i
                return True
        return False

    for i in range(len(accept)):
        if not place(i, set()):
            return None
    out = [""] * len(accept)
    for rid, i in owner.items():
        out[i] = rid
    return out


def _union_closed(spans: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _intersect_closed(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _time_of_day_filter(service: Service) -> Callable[[int], bool] | None:
    if service.earliest_start is None and service.latest_start is None:
        return None
    tz = zone(service.timezone)
    earliest, latest = service.earliest_start, service.latest_start

    def ok(t: int) -> bool:
        local = datetime.fromtimestamp(t, tz).time()
        if earliest is not None and local < earliest:
            return False
        return latest is None or local <= latest

    return ok


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["Booking", "Schedule", "SearchRequest", "Slot", "assign"]
