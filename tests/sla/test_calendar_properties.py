"""Business-time arithmetic against a minute-by-minute reference.

The reference reads the wall clock of the zone at every minute (zoneinfo,
nothing of ``sla.calendar``) and asks the definition: a weekday range holds
the time, the date is no holiday, no closure holds the date-time. The walk
must agree to the second around DST changes in several zones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla.calendar import ALWAYS_OPEN, Calendar

SPECS: dict[int, tuple] = {}

# Days of 2026 with an offset change in each zone (none in Kolkata), and one
# ordinary day, so that spans start around the changes.
ZONES = {
    "Europe/Rome": [date(2026, 3, 29), date(2026, 10, 25), date(2026, 6, 10)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1), date(2026, 7, 1)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4), date(2026, 1, 15)],
    "Asia/Kolkata": [date(2026, 3, 29), date(2026, 12, 31)],
}


def minutes(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Sorted, disjoint ranges of one day on a half-hour grid (small hours often)."""
    points = draw(st.lists(st.integers(0, 48), min_size=0, max_size=6, unique=True).map(sorted))
    if len(points) % 2:
        points = points[:-1]
    return [(points[i] * 30, points[i + 1] * 30) for i in range(0, len(points), 2)]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Calendar, datetime, int]:
    zone_name = draw(st.sampled_from(sorted(ZONES)))
    zone = ZoneInfo(zone_name)
    day = draw(st.sampled_from(ZONES[zone_name])) + timedelta(days=draw(st.integers(-2, 1)))
    weekly = [minutes(draw) for _ in range(7)]
    if sum(e - s for day in weekly for s, e in day) < 600:
        weekly[draw(st.integers(0, 6))] = [(0, 24 * 60)]
    holidays = draw(st.lists(st.integers(-2, 4).map(lambda n: day + timedelta(days=n)), max_size=2))
    closures = []
    for _ in range(draw(st.integers(0, 2))):
        start = datetime.combine(day, datetime.min.time()) + timedelta(
            minutes=15 * draw(st.integers(-96, 300))
        )
        closures.append((start, start + timedelta(minutes=15 * draw(st.integers(1, 200)))))
    calendar = Calendar("random", zone_name, weekly, holidays, closures)
    SPECS[id(calendar)] = (weekly, set(holidays), closures)
    local_start = datetime.combine(day, datetime.min.time()) + timedelta(
        minutes=draw(st.integers(0, 48 * 60))
    )
    start = local_start.replace(tzinfo=zone).astimezone(UTC)
    return calendar, start, draw(st.integers(0, 3 * 24 * 60))


def reference_open(calendar: Calendar, at: datetime, weekly, holidays, closures) -> bool:
    local = at.astimezone(calendar.zone)
    if local.date() in holidays:
        return False
    minute = local.hour * 60 + local.minute
    if not any(s <= minute < e for s, e in weekly[local.weekday()]):
        return False
    wall = local.replace(tzinfo=None)
    return not any(a <= wall < b for a, b in closures)


def open_minutes(calendar: Calendar, spec, start: datetime, count: int) -> list[bool]:
    return [reference_open(calendar, start + timedelta(minutes=i), *spec) for i in range(count)]


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spec_of(calendar: Calendar):
    """The calendar's inputs as drawn, not as the calendar keeps them."""
    return SPECS[id(calendar)]


@SETTINGS
@given(cases())
def test_business_time_between_two_instants_counts_open_minutes(case):
    calendar, start, span = case
    expected = sum(open_minutes(calendar, spec_of(calendar), start, span)) * 60
    end = start + timedelta(minutes=span)
    assert calendar.between(start, end) == timedelta(seconds=expected)


@SETTINGS
@given(cases(), st.integers(1, 600))
def test_adding_business_time_lands_where_the_reference_count_reaches_it(case, wanted):
    calendar, start, _ = case
    spec = spec_of(calendar)
    seen, minute = 0, 0
    while seen < wanted:
        if reference_open(calendar, start + timedelta(minutes=minute), *spec):
            seen += 1
        minute += 1
        assert minute < 40 * 24 * 60, "the reference found no open time"
    assert calendar.add(start, timedelta(minutes=wanted)) == start + timedelta(minutes=minute)


@SETTINGS
@given(cases())
def test_next_open_instant_is_the_first_open_minute(case):
    calendar, start, _ = case
    spec = spec_of(calendar)
    minute = 0
    while not reference_open(calendar, start + timedelta(minutes=minute), *spec):
        minute += 1
        assert minute < 40 * 24 * 60
    assert calendar.next_open(start) == start + timedelta(minutes=minute)
    assert calendar.is_open(start) == (minute == 0)


def office(zone: str = "America/New_York") -> Calendar:
    nine_to_five = [(9 * 60, 17 * 60)]
    return Calendar("office", zone, [nine_to_five] * 5 + [[], []])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_friday_afternoon_plus_four_hours_is_monday_morning():
    # 2026-11-27 is a Friday; 16:00 New York is 21:00 UTC.
    start = utc(2026, 11, 27, 21)
    assert office().add(start, timedelta(hours=4)) == utc(2026, 11, 30, 17)  # Mon 12:00 EST


def test_spring_forward_night_has_only_the_hours_the_clock_shows():
    calendar = Calendar("night", "America/New_York", [[(60, 4 * 60)]] * 7)
    night = utc(2026, 3, 8, 0)  # 2026-03-07 19:00 EST, before the change night
    # 01:00-04:00 on the change night is 01:00-02:00 EST then 03:00-04:00 EDT.
    assert calendar.between(night, night + timedelta(hours=12)) == timedelta(hours=2)


def test_fall_back_night_counts_the_repeated_hour_twice():
    calendar = Calendar("night", "America/New_York", [[(60, 2 * 60)]] * 7)
    night = utc(2026, 11, 1, 0)  # 2026-10-31 20:00 EDT
    assert calendar.between(night, night + timedelta(hours=12)) == timedelta(hours=2)


def test_lord_howe_half_hour_shift():
    calendar = Calendar("lhi", "Australia/Lord_Howe", [[(0, 24 * 60)]] * 7)
    # Local 2026-10-04 00:00 (+10:30) to 2026-10-05 00:00 (+11:00): 23.5 hours.
    start = datetime(2026, 10, 4, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    end = datetime(2026, 10, 5, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    assert calendar.between(start, end) == timedelta(hours=23, minutes=30)


def test_holiday_and_closure_are_skipped():
    holiday = date(2026, 12, 25)
    closure = (datetime(2026, 12, 28, 9), datetime(2026, 12, 28, 12))
    calendar = Calendar(
        "rome", "Europe/Rome", [[(9 * 60, 18 * 60)]] * 5 + [[], []], [holiday], [closure]
    )
    start = datetime(2026, 12, 24, 17, tzinfo=ZoneInfo("Europe/Rome"))
    # 1h on the 24th, the 25th is a holiday, weekend, Monday opens at 12:00.
    assert calendar.add(start, timedelta(hours=2)) == datetime(
        2026, 12, 28, 13, tzinfo=ZoneInfo("Europe/Rome")
    )


def test_twenty_four_seven_without_a_calendar():
    start = utc(2026, 3, 8, 6)
    assert ALWAYS_OPEN.add(start, timedelta(hours=5)) == start + timedelta(hours=5)
    assert ALWAYS_OPEN.between(start, start - timedelta(1)) == timedelta(0)


def test_a_year_of_business_time_is_fast():
    import time

    calendar = office("Europe/Rome")
    start = utc(2026, 1, 1)
    began = time.perf_counter()
    for _ in range(100):
        calendar.add(start, timedelta(hours=8 * 250))
    assert (time.perf_counter() - began) / 100 < 0.05
