"""Property tests: on small random instances the fast search returns only valid
slots, misses no valid earlier start, and agrees exactly with the exhaustive
reference."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling import (
    Booking,
    InvalidModel,
    Requirement,
    Resource,
    Schedule,
    SearchRequest,
    Service,
    SlotTaken,
    WeeklyHours,
)
from scheduling.intervals import to_seconds
from scheduling.reference import reference_search, valid_at

MONDAY = datetime(2026, 12, 7, tzinfo=UTC)
CALENDARS = {
    "rome": WeeklyHours(
        "rome",
        "Europe/Rome",
        {d: ((time(9), time(13)), (time(14), time(18))) for d in range(5)},
        frozenset({MONDAY.date() + timedelta(days=2)}),
    ),
    "early": WeeklyHours(
        "early",
        "UTC",
        {d: ((time(6), time(14)),) for d in range(6)},
        closures=((MONDAY + timedelta(hours=30), MONDAY + timedelta(hours=32, minutes=30)),),
    ),
    "nights": WeeklyHours("nights", "America/New_York", {d: ((time(20), None),) for d in range(7)}),
}
SKILLS = ("repair", "install")


@st.composite
def resources(draw: st.DrawFn) -> list[Resource]:
    n = draw(st.integers(2, 6))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["person", "person", "equipment"]))
        skills = draw(
            st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1, max_size=2)
        )
        closures: tuple[tuple[datetime, datetime], ...] = ()
        if draw(st.booleans()):
            at = MONDAY + timedelta(minutes=5 * draw(st.integers(0, 600)))
            closures = ((at, at + timedelta(minutes=5 * draw(st.integers(1, 60)))),)
        out.append(
            Resource(
                id=f"r{i}",
                name=f"resource {i}",
                kind=kind,
                skills=skills if kind == "person" else {},
                calendar=draw(st.sampled_from([None, "rome", "early", "nights"])),
                site=draw(st.sampled_from([None, "north", "south"])),
                closures=closures,
            )
        )
    return out


@st.composite
def instances(
    draw: st.DrawFn,
) -> tuple[list[Resource], list[Booking], SearchRequest]:
    pool = draw(resources())
    bookings = []
    for _ in range(draw(st.integers(0, 8))):
        r = draw(st.sampled_from(pool))
        start = to_seconds(MONDAY) + 300 * draw(st.integers(0, 800))
        bookings.append(Booking(r.id, start, start + 300 * draw(st.integers(1, 36))))
    requires = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["person", "person", "equipment"]))
        skills = (
            draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=1))
            if kind == "person"
            else {}
        )
        named = None
        if draw(st.integers(0, 5)) == 0:
            named = draw(st.sampled_from(pool)).id
        requires.append(Requirement(kind, skills, named))
    named_ids = [q.resource for q in requires if q.resource]
    if len(named_ids) != len(set(named_ids)):
        requires = [Requirement(q.kind, q.skills) for q in requires]
    earliest = latest = None
    if draw(st.booleans()):
        earliest = time(draw(st.integers(0, 12)), draw(st.sampled_from([0, 30])))
        latest = time(draw(st.integers(earliest.hour + 1, 23)), 0)
    service = Service(
        id="s",
        name="visit",
        duration=timedelta(minutes=5 * draw(st.integers(3, 30))),
        requires=tuple(requires),
        buffer_before=timedelta(minutes=draw(st.sampled_from([0, 10, 15]))),
        buffer_after=timedelta(minutes=draw(st.sampled_from([0, 5, 30]))),
        same_site=draw(st.booleans()),
        preferred_resource=draw(st.sampled_from([None, *[r.id for r in pool]])),
        earliest_start=earliest,
        latest_start=latest,
        timezone=draw(st.sampled_from(["UTC", "Europe/Rome"])),
    )
    start = MONDAY + timedelta(minutes=7 * draw(st.integers(0, 400)))
    end = start + timedelta(minutes=30 * draw(st.integers(1, 100)))
    request = SearchRequest(
        service,
        start,
        end,
        count=draw(st.integers(1, 5)),
        step=timedelta(minutes=draw(st.sampled_from([10, 15, 30]))),
        previous=frozenset(draw(st.sets(st.sampled_from([r.id for r in pool]), max_size=2))),
        prefer=tuple(
            draw(st.permutations(["proficiency", "least_booked", "previous"]))[
                : draw(st.integers(0, 3))
            ]
        ),
    )
    return pool, bookings, request


def _valid_somehow(
    schedule: Schedule, pool: list[Resource], bookings: list[Booking], service: Service, t: int
) -> bool:
    """Whether any set of distinct resources can take the service at ``t``
    (checked with ``valid_at`` and the site rule, independent of the search)."""
    options = [
        [r for r in pool if q.accepts(r) and valid_at(r, CALENDARS, bookings, service, t)]
        for q in service.requires
    ]
    for combo in itertools.product(*options):
        if len({r.id for r in combo}) != len(combo):
            continue
        if service.same_site and len({r.site for r in combo} - {None}) > 1:
            continue
        return True
    return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_fast_search_is_valid_complete_and_equals_the_reference(
    case: tuple[list[Resource], list[Booking], SearchRequest],
) -> None:
    pool, bookings, request = case
    schedule = Schedule(pool, CALENDARS, bookings)
    try:
        fast = schedule.search(request)
    except InvalidModel:
        # Statically unsatisfiable: no resource of a kind/skill at all, or
        # not enough distinct ones. Then no start may be valid either.
        service = request.service
        assert not any(
            _valid_somehow(schedule, pool, bookings, service, t)
            for t in range(
                to_seconds(request.start), to_seconds(request.end), int(request.step.seconds)
            )
        )
        return
    reference = reference_search(pool, CALENDARS, bookings, request)
    assert fast == reference

    service = request.service
    starts = [to_seconds(s.start) for s in fast]
    assert starts == sorted(set(starts)), "earliest first, one slot per start"
    assert len(fast) <= request.count
    for slot in fast:
        # Valid: inside the window, on the grid, and bookable as given.
        assert request.start <= slot.start and slot.end <= request.end
        assert slot.end - slot.start == service.duration
        assert to_seconds(slot.start) % int(request.step.total_seconds()) == 0
        assert schedule.check_booking(service, slot.start, slot.resources) == slot.resources
    # Complete: no valid start before the last one returned (or anywhere in
    # the window when fewer than asked came back) was left out.
    step = int(request.step.total_seconds())
    horizon = (
        starts[-1] if len(fast) == request.count else to_seconds(request.end) - service.seconds
    )
    t = -(-to_seconds(request.start) // step) * step
    from scheduling.reference import _time_of_day_ok

    while t <= horizon:
        if t not in starts and _time_of_day_ok(service, t):
            assert not _valid_somehow(schedule, pool, bookings, service, t), (
                f"missed a valid start at {datetime.fromtimestamp(t, UTC)}"
            )
        t += step


@settings(max_examples=100, deadline=None)
@given(instances())
def test_a_booked_slot_is_taken_for_the_next_search(
    case: tuple[list[Resource], list[Booking], SearchRequest],
) -> None:
    pool, bookings, request = case
    schedule = Schedule(pool, CALENDARS, bookings)
    try:
        slots = schedule.search(request)
    except InvalidModel:
        return
    if not slots:
        return
    slot = slots[0]
    service = request.service
    t = to_seconds(slot.start)
    for rid in slot.resources:
        schedule.add(Booking(rid, t - service.before_s, t + service.seconds + service.after_s))
    try:
        schedule.check_booking(service, slot.start, slot.resources)
    except SlotTaken:
        pass
    else:
        raise AssertionError("the same slot could be booked twice")
    again = schedule.search(request)
    assert all(s.start != slot.start or not set(s.resources) & set(slot.resources) for s in again)


@st.composite
def crews(draw: st.DrawFn) -> tuple[list[Resource], list[Booking], SearchRequest]:
    """Services of five people: matched by CP-SAT in the fast search."""
    pool = [
        Resource(
            f"p{i}",
            f"person {i}",
            "person",
            {"repair": draw(st.integers(1, 5))},
            calendar=draw(st.sampled_from([None, "early"])),
            site=draw(st.sampled_from([None, "north", "south"])),
        )
        for i in range(draw(st.integers(5, 7)))
    ]
    bookings = []
    for _ in range(draw(st.integers(0, 6))):
        r = draw(st.sampled_from(pool))
        start = to_seconds(MONDAY) + 900 * draw(st.integers(24, 60))
        bookings.append(Booking(r.id, start, start + 900 * draw(st.integers(1, 8))))
    service = Service(
        "crew",
        "crew visit",
        timedelta(minutes=30),
        tuple(Requirement("person", {"repair": draw(st.integers(1, 2))}) for _ in range(5)),
        same_site=draw(st.booleans()),
    )
    start = MONDAY + timedelta(hours=draw(st.integers(6, 12)))
    request = SearchRequest(
        service, start, start + timedelta(hours=3), count=2, step=timedelta(minutes=30)
    )
    return pool, bookings, request


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crews())
def test_cp_sat_matching_agrees_with_the_reference_on_starts_and_cost(
    case: tuple[list[Resource], list[Booking], SearchRequest],
) -> None:
    pool, bookings, request = case
    schedule = Schedule(pool, CALENDARS, bookings)
    try:
        fast = schedule.search(request)
    except InvalidModel:
        return
    reference = reference_search(pool, CALENDARS, bookings, request)
    # Equal-cost crews may differ in who is on them; the start and cost may not.
    assert [(s.start, s.cost) for s in fast] == [(s.start, s.cost) for s in reference]
    for slot in fast:
        assert len(set(slot.resources)) == 5
        assert schedule.check_booking(request.service, slot.start, slot.resources)
