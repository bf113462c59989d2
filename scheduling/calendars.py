"""Working time: when a resource can work, as a calendar answers it.

The scheduling core needs one thing of a calendar: its open intervals between
two instants (``Calendar.open_intervals``). Anything with that method will do,
so the service desk's business-hours calendars (``sla/``) plug in through an
adapter, and ``WeeklyHours`` is the core's own reading of the same
``[[calendars]]`` shape (time zone, weekly ranges, holiday dates, one-off
closures) for when no other is at hand. ``ALWAYS_OPEN`` is 24x7: to the core
a resource without a calendar works around the clock; the gateway insists on
a calendar and offers this one by the name ``ALWAYS_OPEN_NAME`` ("24x7"), so
round the clock is something a resource says, never what it gets by omission.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduling.errors import InvalidModel
from scheduling.intervals import Interval, clip, normalise, subtract, to_seconds

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@runtime_checkable
class Calendar(Protocol):
    """A working calendar, as far as scheduling cares."""

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open (working) intervals within ``[start, end)``, sorted, disjoint,
        aware UTC datetimes."""
        ...


def open_seconds(calendar: Calendar | None, start: int, end: int) -> list[Interval]:
    """A calendar's open intervals as normal integer intervals; ``None`` is 24x7."""
    if calendar is None:
        return [(start, end)] if start < end else []
    if isinstance(calendar, WeeklyHours):
        return calendar.open_between(start, end)
    found = calendar.open_intervals(
        datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    )
    return clip(normalise((to_seconds(a), to_seconds(b)) for a, b in found), start, end)


class AlwaysOpen:
    """24x7."""

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        return [(start, end)] if start < end else []


ALWAYS_OPEN = AlwaysOpen()
ALWAYS_OPEN_NAME = "24x7"


def calendar_zone(calendar: Calendar | None) -> str | None:
    """The IANA zone a calendar keeps its hours in, when it has one (24x7 has none)."""
    name = getattr(calendar, "timezone", None)
    return name if isinstance(name, str) and name else None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone, or ``InvalidModel`` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidModel(
            f"unknown time zone {name!r} (expected an IANA name such as 'Europe/Rome')",
            code="unknown_timezone",
        ) from None


def parse_range(text: str) -> tuple[time, time | None]:
    """``"09:00-13:00"`` → (09:00, 13:00); an end of ``24:00`` is ``None`` (midnight)."""
    match = _RANGE.match(text.strip())
    if not match:
        raise InvalidModel(f"expected a range like '09:00-13:00', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise InvalidModel(f"not a time of day in {text!r}")
    begin = time(h1, m1)
    finish = None if h2 == 24 else time(h2, m2)
    if finish is not None and finish <= begin:
        raise InvalidModel(f"the range {text!r} ends before it starts")
    return begin, finish


@dataclass(frozen=True)
class WeeklyHours:
    """Weekly opening ranges in a time zone, minus holidays and closures.

    Args:
        name: the calendar's name.
        timezone: IANA name; the ranges and holidays are local to it.
        weekly: per weekday (0 = Monday) the local ``(start, end)`` ranges;
            an end of ``None`` means midnight.
        holidays: local dates closed all day.
        closures: one-off closed instants ``(start, end)``, aware datetimes.

    Raises:
        InvalidModel: unknown time zone, overlapping ranges of one day, or
            overlapping closures.
    """

    name: str
    timezone: str = "UTC"
    weekly: Mapping[int, Sequence[tuple[time, time | None]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    closures: tuple[tuple[datetime, datetime], ...] = ()

    def __post_init__(self) -> None:
        zone(self.timezone)
        for day, ranges in self.weekly.items():
            ordered = sorted(ranges, key=lambda r: r[0])
            for (_, end1), (start2, _) in itertools.pairwise(ordered):
                if end1 is None or end1 > start2:
                    raise InvalidModel(f"calendar {self.name!r}: the ranges of {DAYS[day]} overlap")
        check_closures(self.closures, f"calendar {self.name!r}")

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> WeeklyHours:
        """Read one ``[[calendars]]`` entry (PROTOCOL "Business hours"), plus an
        optional ``closures = [{start = ..., end = ...}]`` of RFC 3339 instants."""
        name = str(entry.get("name") or "")
        if not name:
            raise InvalidModel("a calendar needs a name")
        weekly = {
            i: tuple(parse_range(r) for r in entry.get(day) or ())
            for i, day in enumerate(DAYS)
            if entry.get(day)
        }
        holidays = frozenset(_date(d) for d in entry.get("holidays") or ())
        closures = tuple(
            (_instant(c["start"]), _instant(c["end"])) for c in entry.get("closures") or ()
        )
        return cls(name, str(entry.get("timezone") or "UTC"), weekly, holidays, closures)

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        return [
            (datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
            for a, b in self.open_between(to_seconds(start), to_seconds(end))
        ]

    def open_between(self, start: int, end: int) -> list[Interval]:
        if start >= end:
            return []
        tz = zone(self.timezone)
        first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
        found: list[Interval] = []
        day = first
        while day <= last:
            if day not in self.holidays:
                for begin, finish in self.weekly.get(day.weekday(), ()):
                    a = datetime.combine(day, begin, tz)
                    b = (
                        datetime.combine(day + timedelta(days=1), time(0), tz)
                        if finish is None
                        else datetime.combine(day, finish, tz)
                    )
                    found.append((to_seconds(a), to_seconds(b)))
            day += timedelta(days=1)
        closed = normalise((to_seconds(a), to_seconds(b)) for a, b in self.closures)
        return clip(subtract(normalise(found), closed), start, end)


def check_closures(closures: Iterable[tuple[datetime, datetime]], owner: str) -> None:
    """Closures must be non-empty and must not overlap one another."""
    ordered = sorted(closures)
    for a, b in ordered:
        if b <= a:
            raise InvalidModel(f"{owner}: a closure ends before it starts ({a} to {b})")
    for (_, end1), (start2, _) in itertools.pairwise(ordered):
        if start2 < end1:
            raise InvalidModel(f"{owner}: closures overlap at {start2.isoformat()}")


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidModel(f"expected a date like '2026-12-25', got {value!r}") from None


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidModel(f"expected an RFC 3339 instant, got {value!r}") from None
    if moment.tzinfo is None:
        raise InvalidModel(f"the instant {value!r} needs a time zone offset (or Z)")
    return moment.astimezone(UTC)
