"""Unit tests of the scheduling core: calendars, model checks, status table,
buffers, sites, preferences and the CP-SAT matcher."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest

from scheduling import (
    AppointmentStatus,
    Booking,
    IllegalTransition,
    InvalidModel,
    Requirement,
    Resource,
    Schedule,
    SearchRequest,
    Service,
    SlotTaken,
    WeeklyHours,
    transition,
)
from scheduling.intervals import normalise, subtract, to_seconds
from scheduling.search import _cp_sat, _enumerate

MONDAY = datetime(2026, 12, 7, tzinfo=UTC)
OFFICE = WeeklyHours.from_config(
    {
        "name": "office",
        "timezone": "Europe/Rome",
        "monday": ["09:00-13:00", "14:00-18:00"],
        "tuesday": ["09:00-18:00"],
        "holidays": ["2026-12-08"],
        "closures": [{"start": "2026-12-07T10:00:00Z", "end": "2026-12-07T11:00:00Z"}],
    }
)


def at(hours: float, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hours)


def test_weekly_hours_are_local_and_skip_holidays_and_closures() -> None:
    spans = OFFICE.open_intervals(MONDAY, MONDAY + timedelta(days=3))
    # Rome is UTC+1 in December: 09:00-13:00 local is 08:00-12:00 UTC, and the
    # closure 10:00-11:00 UTC cuts it; Tuesday the 8th is a holiday.
    assert spans == [(at(8), at(10)), (at(11), at(12)), (at(13), at(17))]


def test_weekly_hours_follow_daylight_saving() -> None:
    cal = WeeklyHours("x", "Europe/Rome", {6: ((time(9), time(10)),)})
    march = datetime(2026, 3, 22, tzinfo=UTC)  # a Sunday before the change
    spans = cal.open_intervals(march, march + timedelta(days=8))
    assert [a.hour for a, _ in spans] == [8, 7]


def test_midnight_end_and_bad_calendars() -> None:
    cal = WeeklyHours.from_config({"name": "n", "monday": ["22:00-24:00"]})
    assert cal.open_intervals(MONDAY, MONDAY + timedelta(days=1)) == [(at(22), at(24))]
    with pytest.raises(InvalidModel, match="unknown time zone"):
        WeeklyHours.from_config({"name": "n", "timezone": "Mars/Olympus"})
    with pytest.raises(InvalidModel, match="overlap"):
        WeeklyHours.from_config({"name": "n", "monday": ["09:00-12:00", "11:00-13:00"]})
    with pytest.raises(InvalidModel, match="closures overlap"):
        WeeklyHours.from_config(
            {
                "name": "n",
                "closures": [
                    {"start": "2026-12-07T10:00:00Z", "end": "2026-12-07T12:00:00Z"},
                    {"start": "2026-12-07T11:00:00Z", "end": "2026-12-07T13:00:00Z"},
                ],
            }
        )
    with pytest.raises(InvalidModel, match="09:00-13:00"):
        WeeklyHours.from_config({"name": "n", "monday": ["9-13"]})


def test_interval_subtraction() -> None:
    assert subtract([(0, 10), (20, 30)], [(5, 22), (25, 26)]) == [(0, 5), (22, 25), (26, 30)]
    assert normalise([(5, 6), (0, 3), (3, 4), (7, 7)]) == [(0, 4), (5, 6)]


def test_status_table() -> None:
    assert transition("scheduled", "in_progress") == AppointmentStatus.IN_PROGRESS
    assert transition("in_progress", "completed") == AppointmentStatus.COMPLETED
    for final in ("completed", "cancelled", "no_show"):
        with pytest.raises(IllegalTransition, match=final):
            transition(final, "scheduled")
    with pytest.raises(IllegalTransition):
        transition("scheduled", "completed")


def test_model_rejects_what_can_never_work() -> None:
    with pytest.raises(InvalidModel, match="duration"):
        Service("s", "x", timedelta(0), (Requirement("person"),))
    with pytest.raises(InvalidModel, match="at least one"):
        Service("s", "x", timedelta(hours=1), ())
    with pytest.raises(InvalidModel, match="level"):
        Resource("r", "r", "person", {"repair": 9})
    with pytest.raises(InvalidModel, match="kind"):
        Resource("r", "r", "robot")  # type: ignore[arg-type]
    with pytest.raises(InvalidModel, match="closures overlap"):
        Resource("r", "r", "person", closures=((at(1), at(3)), (at(2), at(4))))
    with pytest.raises(InvalidModel, match="unknown calendar"):
        Schedule([Resource("r", "r", "person", calendar="nope")], {})


def test_unsatisfiable_service_is_an_error_not_an_empty_answer() -> None:
    schedule = Schedule([Resource("r1", "Ann", "person", {"repair": 2})], {})
    service = Service("s", "fix", timedelta(hours=1), (Requirement("person", {"repair": 3}),))
    with pytest.raises(InvalidModel, match="repair >= 3") as info:
        schedule.search(SearchRequest(service, MONDAY, MONDAY + timedelta(days=1)))
    assert info.value.code == "unsatisfiable"
    two = Service("s", "fix", timedelta(hours=1), (Requirement("person"), Requirement("person")))
    with pytest.raises(InvalidModel, match="distinct"):
        schedule.search(SearchRequest(two, MONDAY, MONDAY + timedelta(days=1)))


def test_inverted_window_is_an_error() -> None:
    service = Service("s", "fix", timedelta(hours=1), (Requirement("person"),))
    with pytest.raises(InvalidModel, match="ends") as info:
        SearchRequest(service, MONDAY + timedelta(days=1), MONDAY)
    assert info.value.code == "invalid_window"


def test_buffers_keep_the_resource_busy_and_inside_working_time() -> None:
    ann = Resource("r1", "Ann", "person", {"repair": 4}, calendar="office")
    service = Service(
        "s",
        "visit",
        timedelta(hours=1),
        (Requirement("person", {"repair": 3}),),
        buffer_before=timedelta(minutes=30),
        buffer_after=timedelta(minutes=15),
    )
    booked = Booking("r1", to_seconds(at(13)), to_seconds(at(14)))
    schedule = Schedule([ann], {"office": OFFICE}, [booked])
    slots = schedule.search(SearchRequest(service, MONDAY, MONDAY + timedelta(days=1), count=10))
    # 08:00-10:00 UTC open: 08:30 (buffer from 08:00) until 08:45 (ends 10:00 with buffer).
    # 11:00-12:00: too short for 1h45. 13:00-17:00 minus the booking 13:00-14:00:
    # 14:30 .. 15:45.
    starts = [s.start for s in slots]
    hours = [8.5, 8.75, 14.5, 14.75, 15, 15.25, 15.5, 15.75]
    assert starts == [at(h) for h in hours]
    with pytest.raises(SlotTaken, match="already booked"):
        schedule.check_booking(service, at(14.25), ["r1"])
    with pytest.raises(SlotTaken, match="not working"):
        schedule.check_booking(service, at(9), ["r1"])


def test_same_site_and_preferences() -> None:
    pool = [
        Resource("a", "Ann", "person", {"repair": 3}, site="north"),
        Resource("b", "Bob", "person", {"repair": 5}, site="south"),
        Resource("k1", "Kit north", "equipment", site="north"),
    ]
    service = Service(
        "s",
        "repair",
        timedelta(hours=1),
        (Requirement("person", {"repair": 3}), Requirement("equipment")),
        same_site=True,
    )
    schedule = Schedule(pool, {})
    slot = schedule.search(SearchRequest(service, MONDAY, at(2), count=1))[0]
    assert slot.resources == ("a", "k1")  # Bob is more proficient but in the south
    free = Service("s", "repair", timedelta(hours=1), (Requirement("person", {"repair": 3}),))
    assert schedule.search(SearchRequest(free, MONDAY, at(2), count=1))[0].resources == ("b",)
    # Proficiency comes before the customer's previous resource by default,
    # the other way round when asked.
    request = SearchRequest(free, MONDAY, at(2), count=1, previous=frozenset({"a"}))
    assert schedule.search(request)[0].resources == ("b",)
    request = SearchRequest(
        free, MONDAY, at(2), count=1, previous=frozenset({"a"}), prefer=("previous",)
    )
    assert schedule.search(request)[0].resources == ("a",)
    # Least booked that day.
    schedule.add(Booking("b", to_seconds(at(5)), to_seconds(at(9))))
    request = SearchRequest(free, MONDAY, at(2), count=1, prefer=("least_booked",))
    assert schedule.search(request)[0].resources == ("a",)


def test_earliest_and_latest_start_are_local_times() -> None:
    service = Service(
        "s",
        "call",
        timedelta(minutes=30),
        (Requirement("person"),),
        earliest_start=time(10),
        latest_start=time(11),
        timezone="Europe/Rome",
    )
    schedule = Schedule([Resource("a", "Ann", "person")], {})
    slots = schedule.search(SearchRequest(service, MONDAY, at(48), count=20))
    assert [s.start for s in slots][:5] == [at(9), at(9.25), at(9.5), at(9.75), at(10)]
    assert len(slots) == 10  # five a day over two days


def test_cp_sat_matches_enumeration_on_many_requirements() -> None:
    rng = random.Random(7)
    for _ in range(30):
        n = rng.randint(5, 6)
        ids = [f"r{i}" for i in range(8)]
        ranked = []
        for _ in range(n):
            chosen = rng.sample(ids, rng.randint(2, 6))
            group = [
                ((rng.randint(0, 1), -rng.randint(0, 10), rng.randint(0, 500)), r) for r in chosen
            ]
            ranked.append(sorted(group))
        exact = _enumerate(ranked)
        solved = _cp_sat(ranked)
        if exact is None:
            assert solved is None
        else:
            assert solved is not None and solved[0] == exact[0]
            assert len(set(solved[1])) == n


def test_many_requirements_go_through_cp_sat() -> None:
    pool = [Resource(f"p{i}", f"P{i}", "person", {"repair": 1 + i % 5}) for i in range(8)]
    service = Service(
        "s",
        "crew",
        timedelta(hours=1),
        tuple(Requirement("person", {"repair": 1}) for _ in range(5)),
    )
    slot = Schedule(pool, {}).search(SearchRequest(service, MONDAY, at(2), count=1))[0]
    assert len(set(slot.resources)) == 5
    # The five most proficient (levels 5, 4, 3, 3, 2) of 1, 2, 3, 4, 5, 1, 2, 3.
    levels = {r.id: r.skills["repair"] for r in pool}
    assert sum(levels[r] for r in slot.resources) == 17


def test_a_service_that_never_fits_has_no_first_possible_slot() -> None:
    """``first_possible`` tells "never" (bad input) from "all booked"."""
    tech = Resource("r_tech", "Tech", "person", {"fix": 3}, calendar="office", site="north")
    kit = Resource("r_kit", "Kit", "equipment", site="south")
    schedule = Schedule([tech, kit], {"office": OFFICE})
    week = timedelta(weeks=2)
    step = timedelta(minutes=15)
    fits = Service("s1", "visit", timedelta(hours=2), (Requirement("person"),))
    assert schedule.first_possible(fits, MONDAY, week, step) is not None
    # Fully booked: no slot now, but one were nothing booked.
    booked = Schedule(
        [tech, kit],
        {"office": OFFICE},
        [Booking("r_tech", to_seconds(MONDAY), to_seconds(MONDAY + week))],
    )
    assert booked.search(SearchRequest(fits, MONDAY, MONDAY + week, count=1, step=step)) == []
    assert booked.first_possible(fits, MONDAY, week, step) is not None
    # Longer than any working stretch (Tuesday 09:00-18:00 is the longest).
    too_long = Service("s2", "overhaul", timedelta(hours=10), (Requirement("person"),))
    assert schedule.first_possible(too_long, MONDAY, week, step) is None
    buffered = Service(
        "s3",
        "visit",
        timedelta(hours=8),
        (Requirement("person"),),
        buffer_before=timedelta(hours=2),
    )
    assert schedule.first_possible(buffered, MONDAY, week, step) is None
    # Sites that never match.
    apart = Service(
        "s4",
        "visit",
        timedelta(hours=1),
        (Requirement("person"), Requirement("equipment")),
        same_site=True,
    )
    assert schedule.first_possible(apart, MONDAY, week, step) is None
    # A time-of-day limit outside working hours.
    evening = Service(
        "s5",
        "visit",
        timedelta(hours=1),
        (Requirement("person"),),
        earliest_start=time(19),
        timezone="Europe/Rome",
    )
    assert schedule.first_possible(evening, MONDAY, week, step) is None


def test_the_customers_zone_is_the_first_known_one() -> None:
    from scheduling.messages import pick_zone

    assert pick_zone([("appointment", None), ("customer", "Asia/Tokyo"), ("server", "UTC")]) == (
        "customer",
        "Asia/Tokyo",
    )
    # A browser's guess that is not a zone is passed over, not an error.
    assert pick_zone([("browser", "Mars/Base"), ("calendar", "Europe/Rome")]) == (
        "calendar",
        "Europe/Rome",
    )
    assert pick_zone([("customer", ""), ("browser", None)]) == ("default", "UTC")


def test_a_phone_number_gives_a_zone_only_when_it_shows_one_time() -> None:
    from scheduling.messages import phone_zone

    at = datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert phone_zone("+393471234567", at) == "Europe/Rome"  # Rome or the Vatican
    assert phone_zone("+81312345678", at) == "Asia/Tokyo"
    assert phone_zone("+12125551234", at) == "America/New_York"
    assert phone_zone("+79161234567", at) is None  # a Russian mobile: sixteen zones
    assert phone_zone("not a number", at) is None and phone_zone(None, at) is None
