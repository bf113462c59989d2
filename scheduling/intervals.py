"""Half-open time intervals ``[start, end)`` as integer seconds since the epoch.

The search works on integers: comparing and subtracting ints is several times
cheaper than datetimes, and the 500-resource benchmark is mostly this. Lists
of intervals are kept sorted and disjoint ("normal"); every function here
takes and returns normal lists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

Interval = tuple[int, int]


def to_seconds(moment: datetime) -> int:
    """Seconds since the epoch of an aware datetime (naive is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, drop empty ones and merge overlapping or touching intervals."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(base: Sequence[Interval], cut: Sequence[Interval]) -> list[Interval]:
    """``base`` minus ``cut`` (both normal)."""
    out: list[Interval] = []
    j = 0
    for start, end in base:
        while j < len(cut) and cut[j][1] <= start:
            j += 1
        k = j
        cur = start
        while k < len(cut) and cut[k][0] < end:
            if cut[k][0] > cur:
                out.append((cur, cut[k][0]))
            cur = max(cur, cut[k][1])
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two normal lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def clip(intervals: Sequence[Interval], start: int, end: int) -> list[Interval]:
    return intersect(intervals, [(start, end)]) if start < end else []


def covers(intervals: Sequence[Interval], start: int, end: int) -> bool:
    """Whether ``[start, end)`` lies inside one interval of the normal list."""
    i = bisect_right(intervals, (start, 1 << 62)) - 1
    return i >= 0 and intervals[i][0] <= start and end <= intervals[i][1]


def contains_point(intervals: Sequence[Interval], point: int) -> bool:
    """Whether ``point`` lies in a closed ``[start, end]`` of the list (used for
    sets of feasible start times, whose ends are feasible too)."""
    i = bisect_right(intervals, (point, 1 << 62)) - 1
    return i >= 0 and intervals[i][0] <= point <= intervals[i][1]


def overlaps(intervals: Sequence[Interval], start: int, end: int) -> bool:
    """Whether any interval of the normal list overlaps ``[start, end)``."""
    i = bisect_right(intervals, (start, 1 << 62)) - 1
    if i >= 0 and intervals[i][1] > start:
        return True
    return i + 1 < len(intervals) and intervals[i + 1][0] < end
