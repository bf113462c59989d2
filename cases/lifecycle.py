"""The case lifecycle: statuses, status reasons and the moves between them.

Everything that decides whether a case may change status lives in this file.
A case is ``active`` (with a reason saying what is happening), ``resolved``
(with a resolution text) or ``cancelled``; merging cancels a case with the
reason ``merged``, which is final. ``TRANSITIONS`` is the whole state
machine: a move not in it raises ``IllegalTransition`` naming the state and
the event.
"""

from __future__ import annotations

from enum import StrEnum

from cases.errors import IllegalTransition


class CaseStatus(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class CaseEvent(StrEnum):
    SET_REASON = "set_reason"
    RESOLVE = "resolve"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    MERGE = "merge"


REASONS: dict[CaseStatus, tuple[str, ...]] = {
    CaseStatus.ACTIVE: ("in_progress", "researching", "waiting_for_details", "on_hold"),
    CaseStatus.RESOLVED: ("problem_solved", "information_provided"),
    CaseStatus.CANCELLED: ("cancelled", "merged"),
}
"""Status reasons allowed under each status; the first is the default."""

ACTIVE_REASONS = REASONS[CaseStatus.ACTIVE]
RESOLVED_REASONS = REASONS[CaseStatus.RESOLVED]

TRANSITIONS: dict[tuple[CaseStatus, CaseEvent], CaseStatus] = {
    (CaseStatus.ACTIVE, CaseEvent.SET_REASON): CaseStatus.ACTIVE,
    (CaseStatus.ACTIVE, CaseEvent.RESOLVE): CaseStatus.RESOLVED,
    (CaseStatus.ACTIVE, CaseEvent.CANCEL): CaseStatus.CANCELLED,
    (CaseStatus.ACTIVE, CaseEvent.MERGE): CaseStatus.CANCELLED,
    (CaseStatus.RESOLVED, CaseEvent.REACTIVATE): CaseStatus.ACTIVE,
    (CaseStatus.CANCELLED, CaseEvent.REACTIVATE): CaseStatus.ACTIVE,
}

FINAL_REASONS = frozenset({"merged"})
"""Reasons no event leaves: a merged case lives on in its survivor."""

_PAST = {
    CaseEvent.SET_REASON: "given a new status reason",
    CaseEvent.RESOLVE: "resolved",
    CaseEvent.CANCEL: "cancelled",
    CaseEvent.REACTIVATE: "reactivated",
    CaseEvent.MERGE: "merged",
}


def next_status(status: str, reason: str, event: CaseEvent) -> CaseStatus:
    """The status ``event`` leads to from ``status``/``reason``.

    Raises:
        IllegalTransition: the table has no such move, or the case is merged.
    """
    current = CaseStatus(status)
    if reason in FINAL_REASONS:
        raise IllegalTransition(
            status, reason, _PAST[event], "it was merged into another case, which carries on"
        )
    target = TRANSITIONS.get((current, event))
    if target is None:
        raise IllegalTransition(status, reason, _PAST[event])
    return target


def check_reason(status: CaseStatus, reason: str) -> None:
    """Raise ``ValueError`` unless ``reason`` belongs under ``status``."""
    if reason not in REASONS[status]:
        allowed = ", ".join(REASONS[status])
        raise ValueError(f"status reason {reason!r} is not one of {allowed} for a {status} case")
