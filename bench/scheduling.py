"""Scheduling: slot search latency at scale, and a day's plan against first-fit.

1. Search. 500 resources (420 people with 2-3 of 10 skills at levels 1-5, 50
   pieces of equipment, 30 facilities) on three calendars (Rome, London,
   New York office hours), five sites, and 5,000 appointments already booked
   over 20 working days (placed where they fit). Each search asks for the
   best 5 slots of a random service (one person with one or two skills at
   level 2-4; a third also need a piece of equipment, some at the same site)
   over the whole 20 working days (28 calendar days), or over one random
   week; and "rare" services (two skills at level 4-5, a kit at the same
   site, 15-minute buffers), which few resources can serve. Reported:
   p50/p99 of ``Schedule.search`` on the loaded schedule, and p99 including
   building the ``Schedule`` from the rows (what the HTTP API does per
   request). Target: p99 < 100 ms.

2. A day's plan. 1,000 requests arrive for one day (90 people working 8
   hours, 20 kits): services of 30-90 minutes, each with the window the
   customer can do (two hours, a half day or the whole day). Booked in arrival
   order by first-fit (earliest start, first resources that fit; the
   baseline) and by best-fit (``scheduling.plan``): requests served and
   utilisation of people's working time, same requests, same run.

    python bench/scheduling.py [--searches 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scheduling import (
    Booking,
    InvalidModel,
    Requirement,
    Resource,
    Schedule,
    SearchRequest,
    Service,
)
from scheduling.calendars import WeeklyHours
from scheduling.intervals import to_seconds
from scheduling.plan import PlanRequest, plan

SKILLS = [f"skill{i}" for i in range(10)]
SITES = [f"site{i}" for i in range(5)]
START = datetime(2030, 1, 7, tzinfo=UTC)  # a Monday
WORKDAYS = {d: ((clock(9), clock(13)), (clock(14), clock(18))) for d in range(5)}
CALENDARS = {
    "rome": WeeklyHours("rome", "Europe/Rome", WORKDAYS),
    "london": WeeklyHours(
        "london", "Europe/London", {d: ((clock(8), clock(16)),) for d in range(5)}
    ),
    "newyork": WeeklyHours("newyork", "America/New_York", WORKDAYS),
}


def resources(rng: random.Random) -> list[Resource]:
    out = []
    for i in range(500):
        calendar = rng.choice(list(CALENDARS))
        site = rng.choice(SITES)
        if i < 420:
            skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(2, 3))}
            out.append(Resource(f"p{i:03}", f"person {i}", "person", skills, calendar, site))
        elif i < 470:
            out.append(Resource(f"e{i:03}", f"kit {i}", "equipment", {"kit": 1}, calendar, site))
        else:
            out.append(Resource(f"f{i:03}", f"bay {i}", "facility", {}, calendar, site))
    return out


def service(rng: random.Random, i: int, rare: bool = False) -> Service:
    if rare:  # few people qualify, with a kit at their site: the search looks far
        skills = {s: rng.randint(4, 5) for s in rng.sample(SKILLS, 2)}
        return Service(
            f"s{i}",
            "rare visit",
            timedelta(minutes=rng.choice([60, 90, 120])),
            (Requirement("person", skills), Requirement("equipment", {"kit": 1})),
            buffer_before=timedelta(minutes=15),
            buffer_after=timedelta(minutes=15),
            same_site=True,
        )
    skills = {s: rng.randint(2, 4) for s in rng.sample(SKILLS, rng.choice([1, 1, 2]))}
    requires = [Requirement("person", skills)]
    same_site = False
    if rng.random() < 0.33:
        requires.append(Requirement("equipment", {"kit": 1}))
        same_site = rng.random() < 0.5
    return Service(
        f"s{i}",
        "visit",
        timedelta(minutes=rng.choice([30, 45, 60, 90])),
        tuple(requires),
        buffer_after=timedelta(minutes=rng.choice([0, 0, 15])),
        same_site=same_site,
    )


def loaded_schedule(rng: random.Random, pool: list[Resource], n: int) -> list[Booking]:
    """``n`` appointments placed where they fit (working time, no overlap)."""
    schedule = Schedule(pool, CALENDARS)
    bookings: list[Booking] = []
    horizon = to_seconds(START), to_seconds(START + timedelta(days=28))
    while len(bookings) < n:
        r = rng.choice(pool)
        day = rng.randrange(28)
        t = to_seconds(START + timedelta(days=day)) + 900 * rng.randrange(96)
        length = 60 * rng.choice([30, 45, 60, 90, 120])
        free = schedule.free(r, *horizon)
        if any(a <= t and t + length <= b for a, b in free):
            booking = Booking(r.id, t, t + length)
            schedule.add(booking)
            bookings.append(booking)
    return bookings


def satisfiable(schedule: Schedule, svc: Service) -> bool:
    try:
        schedule.check_satisfiable(svc)
    except InvalidModel:
        return False
    return True


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_search(searches: int, seed: int) -> bool:
    rng = random.Random(seed)
    pool = resources(rng)
    bookings = loaded_schedule(rng, pool, 5000)
    schedule = Schedule(pool, CALENDARS, bookings)
    print(f"search: {len(pool)} resources, {len(bookings)} appointments, 20 working days")
    ok = True
    for label, days, rare in (
        ("20 working days", 28, False),
        ("one week", 7, False),
        ("20 days, rare", 28, True),
    ):
        search_ms, full_ms, found = [], [], 0
        for i in range(searches):
            svc = service(rng, i, rare)
            while not satisfiable(schedule, svc):
                svc = service(rng, i, rare)
            first = rng.randrange(28 - days + 1)
            request = SearchRequest(
                svc,
                START + timedelta(days=first),
                START + timedelta(days=first + days),
                count=5,
            )
            t0 = time.perf_counter()
            slots = schedule.search(request)
            search_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            Schedule(pool, CALENDARS, bookings).search(request)
            full_ms.append((time.perf_counter() - t0) * 1000)
            found += len(slots) == 5
        p99 = pct(search_ms, 0.99)
        ok &= p99 < 100
        print(
            f"  window {label:16} p50 {statistics.median(search_ms):6.1f} ms"
            f"  p99 {p99:6.1f} ms  (with Schedule build: p99 {pct(full_ms, 0.99):6.1f} ms)"
            f"  {found}/{searches} found 5 slots"
            f"  target p99 < 100 ms: {'ok' if p99 < 100 else 'MISSED'}"
        )
    return ok


def bench_plan(seed: int) -> None:
    rng = random.Random(seed)
    day = START
    people = [
        Resource(
            f"p{i:03}",
            f"person {i}",
            "person",
            {s: rng.randint(1, 5) for s in rng.sample(SKILLS[:6], rng.randint(1, 3))},
        )
        for i in range(90)
    ]
    kits = [Resource(f"k{i:02}", f"kit {i}", "equipment", {"kit": 1}) for i in range(20)]
    hours = WeeklyHours("day", "UTC", {0: ((clock(9), clock(17)),)})
    pool = [Resource(r.id, r.name, r.kind, r.skills, "day") for r in people + kits]
    requests = []
    for i in range(1000):
        skills = {s: rng.randint(1, 3) for s in rng.sample(SKILLS[:6], 1)}
        requires = [Requirement("person", skills)]
        if rng.random() < 0.2:
            requires.append(Requirement("equipment", {"kit": 1}))
        svc = Service(
            f"s{i}", "visit", timedelta(minutes=rng.choice([30, 45, 60, 90])), tuple(requires)
        )
        kind = rng.random()
        if kind < 0.4:
            a = rng.randrange(9, 15)
            window = (day + timedelta(hours=a), day + timedelta(hours=a + 2))
        elif kind < 0.8:
            a = rng.choice([9, 13])
            window = (day + timedelta(hours=a), day + timedelta(hours=a + 4))
        else:
            window = (day + timedelta(hours=9), day + timedelta(hours=17))
        requests.append(PlanRequest(svc, *window))
    demand = sum(r.service.seconds for r in requests) / 3600
    print(
        f"plan: 1,000 requests for one day, {len(people)} people x 8 h"
        f" ({len(people) * 8} h; {demand:.0f} h asked for), {len(kits)} kits"
    )
    results = {}
    for policy in ("first_fit", "best_fit"):
        schedule = Schedule(pool, {"day": hours})
        t0 = time.perf_counter()
        result = plan(schedule, requests, policy)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t0
        person_s = sum(
            int((slot.end - slot.start).total_seconds())
            for _, slot in result.booked
            if slot is not None
            for rid in slot.resources
            if rid.startswith("p")
        )
        utilisation = person_s / (len(people) * 8 * 3600)
        results[policy] = (result.served, utilisation)
        per_request = elapsed * 1000 / len(requests)
        print(
            f"  {policy:9}  served {result.served:4}/1000  utilisation of people"
            f" {utilisation:6.1%}  ({elapsed:.1f} s, {per_request:.1f} ms a request)"
        )
    (s0, u0), (s1, u1) = results["first_fit"], results["best_fit"]
    print(f"  best_fit vs first_fit: served x{s1 / s0:.3f}, utilisation x{u1 / u0:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ok = bench_search(args.searches, args.seed)
    bench_plan(args.seed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
