"""Appointment status: a transition table, and the reschedule history.

Everything that moves an appointment's status lives here. ``scheduled`` is
where every booking starts; a reschedule keeps it ``scheduled`` and appends
the old time to the history. ``completed``, ``cancelled`` and ``no_show`` are
final. An illegal move raises ``IllegalTransition`` naming both states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from scheduling.errors import IllegalTransition


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


S = AppointmentStatus
TRANSITIONS: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    S.SCHEDULED: frozenset({S.IN_PROGRESS, S.CANCELLED, S.NO_SHOW}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NO_SHOW: frozenset(),
}
HOLDS_RESOURCES = frozenset({S.SCHEDULED, S.IN_PROGRESS, S.COMPLETED})
"""Statuses whose time stays taken; cancelling (and a no-show) frees it."""
RESCHEDULABLE = frozenset({S.SCHEDULED})


def transition(current: str, target: str) -> AppointmentStatus:
    """The new status, or ``IllegalTransition``."""
    try:
        here, there = AppointmentStatus(current), AppointmentStatus(target)
    except ValueError:
        raise IllegalTransition(current, target) from None
    if there not in TRANSITIONS[here]:
        raise IllegalTransition(current, target)
    return there


def check_reschedule(current: str) -> None:
    if AppointmentStatus(current) not in RESCHEDULABLE:
        raise IllegalTransition(current, "rescheduled")


@dataclass(frozen=True, slots=True)
class Reschedule:
    """One entry of an appointment's history: where it was before a move."""

    at: datetime
    by: str | None
    start: datetime
    end: datetime
    resources: tuple[str, ...]
