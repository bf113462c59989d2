"""KPI instances: one clock per KPI of a policy on one conversation or case.

Everything that affects an instance's status lives here: the transition
table, what each event does to the due times, and the board that answers
"what is due at ``now``?" for many instances at once.

Rules of this file:

- ``TRANSITIONS`` is the whole state machine; ``move`` raises
  ``IllegalTransition`` for anything it does not list.
- Due times are in business time: ``warning_at`` is ``warn_after`` of open
  time after the start, ``failure_at`` likewise. A pause stops the count:
  business time already used is kept, and on resume the rest is added from
  the resume instant, so the paused time is added back. While paused both
  are null.
- A warning that is already past stays as it was (when it fired) across a
  pause; only what is still ahead moves.
- Instants are POSIX seconds (floats); the shell converts at its edges.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from sla.calendar import BusinessHours
from sla.errors import IllegalTransition


class KpiStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    NEARING_NONCOMPLIANCE = "nearing_noncompliance"
    NONCOMPLIANT = "noncompliant"
    SUCCEEDED = "succeeded"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class KpiEvent(StrEnum):
    WARN = "warn"
    """The warning time came."""
    FAIL = "fail"
    """The failure time came."""
    COMPLETE = "complete"
    """What the KPI measures happened (the reply, the resolution)."""
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    """The policy no longer applies (a cancelled case, a chat that ended unanswered)."""


_S, _E = KpiStatus, KpiEvent

TRANSITIONS: dict[KpiStatus, dict[KpiEvent, KpiStatus]] = {
    _S.IN_PROGRESS: {
        _E.WARN: _S.NEARING_NONCOMPLIANCE,
        _E.FAIL: _S.NONCOMPLIANT,
        _E.COMPLETE: _S.SUCCEEDED,
        _E.PAUSE: _S.PAUSED,
        _E.CANCEL: _S.CANCELLED,
    },
    _S.NEARING_NONCOMPLIANCE: {
        _E.FAIL: _S.NONCOMPLIANT,
        _E.COMPLETE: _S.SUCCEEDED,
        _E.PAUSE: _S.PAUSED,
        _E.CANCEL: _S.CANCELLED,
    },
    _S.PAUSED: {
        # Back to nearing_noncompliance instead when the warning already fired.
        _E.RESUME: _S.IN_PROGRESS,
        _E.COMPLETE: _S.SUCCEEDED,
        _E.CANCEL: _S.CANCELLED,
    },
    # Failure is final; doing the thing late records when, and stays failed.
    _S.NONCOMPLIANT: {_E.COMPLETE: _S.NONCOMPLIANT},
    _S.SUCCEEDED: {},
    _S.CANCELLED: {},
}

RUNNING = frozenset({_S.IN_PROGRESS, _S.NEARING_NONCOMPLIANCE})
OPEN = RUNNING | {_S.PAUSED}
"""Statuses whose instance may still change (loaded into the board at start)."""


def allowed(status: KpiStatus, event: KpiEvent) -> bool:
    return event in TRANSITIONS[status]


@dataclass(frozen=True, slots=True)
class KpiInstance:
    """One KPI clock. ``elapsed`` is business seconds used before
    ``run_started_at`` (the start, or the last resume). ``generation`` is 0
    for a subject's first clocks, and one more for each restart of them (a
    case reactivated)."""

    id: str
    subject_kind: str
    subject_id: str
    sla: str
    kpi: str
    calendar: str | None
    warn_after: float
    fail_after: float
    status: KpiStatus
    started_at: float
    run_started_at: float
    warning_at: float | None
    failure_at: float | None
    elapsed: float = 0.0
    paused_at: float | None = None
    paused_seconds: float = 0.0
    completed_at: float | None = None
    warned: bool = False
    failed: bool = False
    generation: int = 0

    def next_due(self) -> tuple[float, KpiEvent] | None:
        """The next timer event and when, or None (paused, finished)."""
        if self.status is KpiStatus.IN_PROGRESS and not self.warned and self.warning_at is not None:
            return self.warning_at, KpiEvent.WARN
        if self.status in RUNNING and self.failure_at is not None:
            return self.failure_at, KpiEvent.FAIL
        return None


def start(
    *,
    id: str,
    subject_kind: str,
    subject_id: str,
    sla: str,
    kpi: str,
    warn_after: float,
    fail_after: float,
    hours: BusinessHours,
    now: float,
    generation: int = 0,
) -> KpiInstance:
    """A new running instance whose due times count from ``now``."""
    if not 0 < warn_after < fail_after:
        raise ValueError(f"expected 0 < warn_after < fail_after, got {warn_after}, {fail_after}")
    return KpiInstance(
        id=id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        sla=sla,
        kpi=kpi,
        calendar=None if hours.name == "24x7" else hours.name,
        warn_after=warn_after,
        fail_after=fail_after,
        status=KpiStatus.IN_PROGRESS,
        started_at=now,
        run_started_at=now,
        warning_at=hours.add_seconds(now, warn_after),
        failure_at=hours.add_seconds(now, fail_after),
        generation=generation,
    )


def move(status: KpiStatus, event: KpiEvent) -> KpiStatus:
    """The status ``event`` leads to; raises ``IllegalTransition``."""
    try:
        return TRANSITIONS[status][event]
    except KeyError:
        raise IllegalTransition(status.value, event.value) from None


def warn(instance: KpiInstance, now: float) -> KpiInstance:
    status = move(instance.status, KpiEvent.WARN)
    return replace(instance, status=status, warned=True)


def fail(instance: KpiInstance, now: float) -> KpiInstance:
    status = move(instance.status, KpiEvent.FAIL)
    return replace(instance, status=status, failed=True)


def complete(instance: KpiInstance, now: float) -> KpiInstance:
    status = move(instance.status, KpiEvent.COMPLETE)
    paused = instance.paused_seconds
    if instance.paused_at is not None:
        paused += max(now - instance.paused_at, 0.0)
    return replace(instance, status=status, completed_at=now, paused_at=None, paused_seconds=paused)


def cancel(instance: KpiInstance, now: float) -> KpiInstance:
    status = move(instance.status, KpiEvent.CANCEL)
    return replace(instance, status=status, completed_at=now)


def pause(instance: KpiInstance, hours: BusinessHours, now: float) -> KpiInstance:
    status = move(instance.status, KpiEvent.PAUSE)
    used = instance.elapsed + hours.between_seconds(instance.run_started_at, now)
    return replace(
        instance,
        status=status,
        elapsed=used,
        paused_at=now,
        warning_at=None,
        failure_at=None,
    )


def resume(instance: KpiInstance, hours: BusinessHours, now: float) -> KpiInstance:
    move(instance.status, KpiEvent.RESUME)
    assert instance.paused_at is not None
    warning_at: float | None
    if instance.warned:
        status = KpiStatus.NEARING_NONCOMPLIANCE
        warning_at = None
    else:
        status = KpiStatus.IN_PROGRESS
        warning_at = hours.add_seconds(now, max(instance.warn_after - instance.elapsed, 0.0))
    return replace(
        instance,
        status=status,
        run_started_at=now,
        paused_at=None,
        paused_seconds=instance.paused_seconds + max(now - instance.paused_at, 0.0),
        warning_at=warning_at,
        failure_at=hours.add_seconds(now, max(instance.fail_after - instance.elapsed, 0.0)),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One status change the board made; the shell stores it (compare and
    set on ``before.status``) and announces it."""

    before: KpiInstance
    after: KpiInstance
    event: KpiEvent


class KpiBoard:
    """The running instances of one node and their next due times.

    A heap of ``(due, seq, id, event)`` with lazy deletion: an entry counts
    only while it still matches the instance's ``next_due``; anything else
    (a completed instance, a pause, a moved due time) is dropped when it
    surfaces. ``due(now)`` is then O(k log n) for k due entries.
    """

    def __init__(self) -> None:
        self._instances: dict[str, KpiInstance] = {}
        self._by_subject: dict[tuple[str, str], dict[str, str]] = {}
        self._heap: list[tuple[float, int, str, KpiEvent]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._instances)

    def __iter__(self) -> Iterator[KpiInstance]:
        return iter(self._instances.values())

    def get(self, instance_id: str) -> KpiInstance | None:
        return self._instances.get(instance_id)

    def of_subject(self, kind: str, subject_id: str) -> list[KpiInstance]:
        """Open instances of one conversation or case."""
        ids = self._by_subject.get((kind, subject_id), {})
        return [self._instances[i] for i in ids.values()]

    def has_subject(self, kind: str, subject_id: str) -> bool:
        return (kind, subject_id) in self._by_subject

    def put(self, instance: KpiInstance) -> None:
        """Add or replace an instance; a finished one leaves the board."""
        key = (instance.subject_kind, instance.subject_id)
        if instance.status not in OPEN:
            self.remove(instance.id)
            return
        self._instances[instance.id] = instance
        self._by_subject.setdefault(key, {})[instance.kpi + "\0" + instance.sla] = instance.id
        due = instance.next_due()
        if due is not None:
            heapq.heappush(self._heap, (due[0], next(self._seq), instance.id, due[1]))

    def put_all(self, instances: Iterable[KpiInstance]) -> None:
        for instance in instances:
            self.put(instance)

    def remove(self, instance_id: str) -> None:
        instance = self._instances.pop(instance_id, None)
        if instance is None:
            return
        key = (instance.subject_kind, instance.subject_id)
        ids = self._by_subject.get(key)
        if ids is not None:
            ids.pop(instance.kpi + "\0" + instance.sla, None)
            if not ids:
                del self._by_subject[key]

    def next_due_at(self) -> float | None:
        """When ``due`` next has something to say (a stale entry may make it
        early; never late)."""
        while self._heap:
            at, _, instance_id, event = self._heap[0]
            instance = self._instances.get(instance_id)
            if instance is not None and instance.next_due() == (at, event):
                return at
            heapq.heappop(self._heap)
        return None

    def due(self, now: float) -> list[Change]:
        """Fire every warning and failure due at ``now``, earliest first. A
        warning and failure both past (the server was down) fire in order."""
        changes: list[Change] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, instance_id, event = heapq.heappop(heap)
            before = self._instances.get(instance_id)
            if before is None or before.next_due() != (at, event):
                continue
            after = warn(before, now) if event is KpiEvent.WARN else fail(before, now)
            self.put(after)
            changes.append(Change(before, after, event))
        return changes
