"""A case and the pure operations on it.

``Case`` is frozen; every operation takes the case and ``now`` and returns
the changed case (and raises from ``cases.errors`` when the move is not
allowed). Storage, numbering and announcing are the shell's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from cases.errors import MissingResolution
from cases.lifecycle import (
    ACTIVE_REASONS,
    RESOLVED_REASONS,
    CaseEvent,
    CaseStatus,
    check_reason,
    next_status,
)

NUMBER_PREFIX = "CAS-"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}
"""What the router's numeric priority of a conversation becomes for each."""


def format_number(sequence: int) -> str:
    """``CAS-00042``: five digits at least, more once they run out."""
    if sequence < 1:
        raise ValueError(f"a case number starts at 1, got {sequence}")
    return f"{NUMBER_PREFIX}{sequence:05d}"


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    number: str
    title: str
    customer_id: str | None
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    product: str | None = None
    priority: Priority = Priority.NORMAL
    origin: str | None = None
    owner_id: str | None = None
    status: CaseStatus = CaseStatus.ACTIVE
    status_reason: str = ACTIVE_REASONS[0]
    stage: str | None = None
    parent_id: str | None = None
    follow_up_of: str | None = None
    merged_into: str | None = None
    resolution: str | None = None
    resolved_at: datetime | None = None
    entitlement_id: str | None = None
    entitlement_charge: int = 0
    """What resolving took from the entitlement (1 case, or minutes); given back
    on reactivation."""
    billable_minutes: int = 0
    fields: dict[str, Any] = field(default_factory=dict)

    def value_of(self, name: str) -> Any:
        """A field by the name configuration uses (``customer``, ``owner``, ...)."""
        if name in _FIELD_ALIASES:
            return getattr(self, _FIELD_ALIASES[name])
        return self.fields.get(name)


_FIELD_ALIASES = {
    "title": "title",
    "description": "description",
    "customer": "customer_id",
    "product": "product",
    "priority": "priority",
    "origin": "origin",
    "owner": "owner_id",
    "parent": "parent_id",
}
KNOWN_FIELDS = frozenset(_FIELD_ALIASES)


def set_reason(case: Case, reason: str, now: datetime) -> Case:
    """Change what an active case is waiting on (on hold, researching, ...)."""
    next_status(case.status, case.status_reason, CaseEvent.SET_REASON)
    check_reason(CaseStatus.ACTIVE, reason)
    return replace(case, status_reason=reason, updated_at=now)


def resolve(
    case: Case, resolution: str | None, now: datetime, reason: str = RESOLVED_REASONS[0]
) -> Case:
    """Resolve with a resolution text (required, not blank).

    Raises:
        MissingResolution: no text, or only whitespace.
        IllegalTransition: the case is not active.
    """
    if resolution is None or not resolution.strip():
        raise MissingResolution("a case is resolved with a resolution text")
    target = next_status(case.status, case.status_reason, CaseEvent.RESOLVE)
    check_reason(target, reason)
    return replace(
        case,
        status=target,
        status_reason=reason,
        resolution=resolution.strip(),
        resolved_at=now,
        updated_at=now,
    )


def cancel(case: Case, now: datetime) -> Case:
    target = next_status(case.status, case.status_reason, CaseEvent.CANCEL)
    return replace(case, status=target, status_reason="cancelled", updated_at=now)


def reactivate(case: Case, now: datetime) -> Case:
    """Back to active (in progress); the resolution is kept for the record
    in the timeline, not on the case."""
    target = next_status(case.status, case.status_reason, CaseEvent.REACTIVATE)
    return replace(
        case,
        status=target,
        status_reason=ACTIVE_REASONS[0],
        resolution=None,
        resolved_at=None,
        updated_at=now,
    )


def merge(case: Case, survivor: Case, now: datetime) -> Case:
    """Cancel ``case`` as merged into ``survivor`` (which must be active and
    not the case itself)."""
    if survivor.id == case.id:
        raise ValueError("a case cannot be merged into itself")
    next_status(survivor.status, survivor.status_reason, CaseEvent.SET_REASON)
    target = next_status(case.status, case.status_reason, CaseEvent.MERGE)
    return replace(
        case, status=target, status_reason="merged", merged_into=survivor.id, updated_at=now
    )
