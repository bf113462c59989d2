"""Business hours: which instants are open, and time counted only while open.

A ``Calendar`` holds weekly hours (several ranges a day, as local wall-clock
times), holidays (whole local dates) and one-off closures (local date-times).
An instant is *open* when the wall clock of the calendar's time zone reads,
at that instant, a time inside one of that weekday's ranges, on a date that
is not a holiday, outside every closure. Everything else here follows from
that one definition, including what daylight-saving changes do:

- Spring forward: wall times that never happen (02:00-03:00 in New York on
  the change day) are never open, so a range 01:00-04:00 that day holds two
  real hours, and a range 02:00-03:00 holds none.
- Fall back: wall times that happen twice are open both times, so a range
  01:00-02:00 holds two real hours that day (the office is staffed by the
  wall clock).
- Lord Howe's 30-minute shift, India's lack of one, and any other offset
  change come out of the same rule; nothing is special-cased.

The arithmetic walks stretches of constant UTC offset, and within each one
the local days it covers, range by range: its cost grows with the number of
open ranges crossed, never with the length of the duration in minutes.
Instants are POSIX seconds (floats) inside, aware datetimes at the edges.
A core: no clock reads, no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sla.errors import NeverOpen

DAY = 86_400
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_NAIVE = datetime(1970, 1, 1)
SEGMENT = 2 * DAY
"""The longest stretch assumed to hold at most one offset change (real zones
change a few times a year at most)."""
HORIZON = 3_660 * DAY
"""How far a walk looks for open time before it gives up (``NeverOpen``)."""


class BusinessHours(Protocol):
    """What the KPI clocks need of a calendar (``Calendar`` or ``ALWAYS_OPEN``)."""

    name: str

    def add_seconds(self, start: float, seconds: float) -> float: ...

    def between_seconds(self, start: float, end: float) -> float: ...

    def next_open_seconds(self, at: float) -> float: ...


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {moment.isoformat()}")
    return moment.timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class _Edges:
    """The datetime front of the float arithmetic, shared by both calendars."""

    def add_seconds(self, start: float, seconds: float) -> float:
        raise NotImplementedError

    def between_seconds(self, start: float, end: float) -> float:
        raise NotImplementedError

    def next_open_seconds(self, at: float) -> float:
        raise NotImplementedError

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of open time after ``start``.

        A zero duration gives ``start`` itself (even when closed); otherwise
        the answer is inside or at the end of an open range, never at the
        start of the next one.

        Raises:
            NeverOpen: no open time within ``HORIZON``.
        """
        return _dt(self.add_seconds(_ts(start), duration.total_seconds()))

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; zero when ``end <= start``."""
        return timedelta(seconds=self.between_seconds(_ts(start), _ts(end)))

    def next_open(self, at: datetime) -> datetime:
        """``at`` if open, else the start of the next open range."""
        return _dt(self.next_open_seconds(_ts(at)))

    def is_open(self, at: datetime) -> bool:
        t = _ts(at)
        return self.next_open_seconds(t) == t


class AlwaysOpen(_Edges):
    """24x7: the calendar of a policy that names none."""

    name = "24x7"

    def add_seconds(self, start: float, seconds: float) -> float:
        return start + max(seconds, 0.0)

    def between_seconds(self, start: float, end: float) -> float:
        return max(end - start, 0.0)

    def next_open_seconds(self, at: float) -> float:
        return at


ALWAYS_OPEN = AlwaysOpen()


class Calendar(_Edges):
    """Weekly hours in a time zone, less holidays and closures.

    Args:
        name: the calendar's name in the config.
        timezone: an IANA zone name (or a ``ZoneInfo``).
        weekly: seven sequences (Monday first) of ``(start, end)`` minutes
            after local midnight, ``0 <= start < end <= 1440``, sorted and
            not overlapping (the config checks this).
        holidays: local dates closed all day.
        closures: ``(start, end)`` naive local date-times, closed in between.
    """

    def __init__(
        self,
        name: str,
        timezone: str | ZoneInfo,
        weekly: Sequence[Sequence[tuple[int, int]]],
        holidays: Iterable[date] = (),
        closures: Iterable[tuple[datetime, datetime]] = (),
    ) -> None:
        if len(weekly) != 7:
            raise ValueError(f"expected 7 days of hours, got {len(weekly)}")
        self.name = name
        self.zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self._weekly = tuple(tuple((s * 60, e * 60) for s, e in day) for day in weekly)
        self._holidays = frozenset((d - _EPOCH_DATE).days for d in holidays)
        spans = sorted(
            ((a - _EPOCH_NAIVE).total_seconds(), (b - _EPOCH_NAIVE).total_seconds())
            for a, b in closures
            if b > a
        )
        merged: list[tuple[float, float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._closures = merged
        self._closure_ends = [b for _, b in merged]

    def __repr__(self) -> str:
        return f"Calendar({self.name!r}, {self.zone.key!r})"

    # -- the walk ---------------------------------------------------------------

    def _offset(self, t: float) -> int:
        offset = datetime.fromtimestamp(t, self.zone).utcoffset()
        assert offset is not None
        return int(offset.total_seconds())

    def _segment(self, t: float) -> tuple[float, int]:
        """``(end, offset)``: the UTC offset at ``t``, and the instant it
        stops holding (at most ``SEGMENT`` later)."""
        offset = self._offset(t)
        horizon = t + SEGMENT
        if self._offset(horizon) == offset:
            return horizon, offset
        # Offsets change on whole seconds: bisect to the first one that differs.
        lo, hi = math.floor(t), math.ceil(horizon)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset(mid) == offset:
                lo = mid
            else:
                hi = mid
        return float(hi), offset

    def _local_open(self, lo: float, hi: float) -> Iterator[tuple[float, float]]:
        """Open stretches of local wall-clock seconds within ``[lo, hi)``."""
        day = int(lo // DAY)
        while day * DAY < hi:
            if day not in self._holidays:
                base = day * DAY
                for start, end in self._weekly[(day + 3) % 7]:  # 1970-01-01 was a Thursday
                    a, b = max(base + start, lo), min(base + end, hi)
                    if a < b:
                        yield from self._outside_closures(a, b)
            day += 1

    def _outside_closures(self, a: float, b: float) -> Iterator[tuple[float, float]]:
        i = bisect.bisect_right(self._closure_ends, a)
        cursor = a
        closures = self._closures
        while i < len(closures) and closures[i][0] < b:
            start, end = closures[i]
            if start > cursor:
                yield cursor, start
            cursor = max(cursor, end)
            i += 1
        if cursor < b:
            yield cursor, b

    def open_intervals(
        self, start: float, until: float | None = None
    ) -> Iterator[tuple[float, float]]:
        """Open UTC stretches from ``start`` on, in order, the first clipped to
        begin at ``start``; stops at ``until`` (the last one is not clipped).

        Raises:
            NeverOpen: unbounded, and no open time within ``HORIZON``.
        """
        cursor = start
        limit = start + HORIZON
        while until is None or cursor < until:
            if until is None and cursor >= limit:
                raise NeverOpen(
                    f"calendar {self.name!r} has no open time within {HORIZON // DAY} days"
                )
            end, offset = self._segment(cursor)
            for a, b in self._local_open(cursor + offset, end + offset):
                yield a - offset, b - offset
            cursor = end

    # -- arithmetic ---------------------------------------------------------------

    def add_seconds(self, start: float, seconds: float) -> float:
        if seconds <= 0:
            return start
        remaining = seconds
        for a, b in self.open_intervals(start):
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable: open_intervals is unbounded")  # pragma: no cover

    def between_seconds(self, start: float, end: float) -> float:
        total = 0.0
        for a, b in self.open_intervals(start, until=end):
            if a >= end:
                break
            total += min(b, end) - a
        return total

    def next_open_seconds(self, at: float) -> float:
        for a, _ in self.open_intervals(at):
            return a
        raise AssertionError("unreachable: open_intervals is unbounded")  # pragma: no cover

    def is_open(self, at: datetime) -> bool:
        """Open by the definition alone: one instant, no walk."""
        t = _ts(at)
        local = t + self._offset(t)
        day = int(local // DAY)
        if day in self._holidays:
            return False
        second = local - day * DAY
        if not any(s <= second < e for s, e in self._weekly[(day + 3) % 7]):
            return False
        i = bisect.bisect_right(self._closure_ends, local)
        return not (i < len(self._closures) and self._closures[i][0] <= local)
