"""Booking a day in arrival order: best-fit keeps generalists and leaves no
useless gaps where first-fit does not."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from scheduling import Requirement, Resource, Schedule, Service, WeeklyHours
from scheduling.plan import PlanRequest, plan

DAY = datetime(2030, 1, 7, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def service(name: str, skills: dict[str, int], minutes: int = 60) -> Service:
    return Service(name, name, timedelta(minutes=minutes), (Requirement("person", skills),))


def people() -> list[Resource]:
    return [
        Resource("p1", "Generalist", "person", {"gas": 5, "water": 5}),
        Resource("p2", "Gas fitter", "person", {"gas": 3}),
    ]


def test_best_fit_keeps_the_generalist_for_what_only_they_can_do() -> None:
    requests = [
        PlanRequest(service("gas", {"gas": 3}), at(9), at(10)),
        PlanRequest(service("water", {"water": 3}), at(9), at(10)),
    ]
    first = plan(Schedule(people(), {}), requests, "first_fit")
    best = plan(Schedule(people(), {}), requests, "best_fit")
    assert first.served == 1  # the generalist took the gas job
    assert best.served == 2
    assert [slot.resources for _, slot in best.booked if slot] == [("p2",), ("p1",)]


def test_best_fit_sits_flush_and_leaves_no_short_gaps() -> None:
    hours = {"day": WeeklyHours("day", "UTC", {0: ((time(9), time(11)),)})}
    one = [Resource("p1", "Solo", "person", {"gas": 3}, calendar="day")]
    # A two-hour day. The half-hour check may start from 9:15: first-fit puts
    # it at 9:15-9:45, leaving 15 and 75 minutes, and the 90-minute job after
    # it fits nowhere. Best-fit (gaps under 90 minutes are waste) puts the
    # check flush against the end of the day, 10:30-11:00.
    requests = [
        PlanRequest(service("check", {"gas": 1}, 30), at(9.25), at(11)),
        PlanRequest(service("fix", {"gas": 1}, 90), at(9), at(11)),
    ]
    first = plan(Schedule(one, hours), requests, "first_fit")
    best = plan(Schedule(one, hours), requests, "best_fit", min_gap=timedelta(minutes=90))
    assert first.served == 1
    assert best.served == 2
    assert [slot.start for _, slot in best.booked if slot] == [at(10.5), at(9)]
    assert best.booked_seconds() == 120 * 60
