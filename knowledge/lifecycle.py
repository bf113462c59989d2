"""The article lifecycle: every rule about an article's status lives here.

An article's stored ``status`` is the status of its *working* version (the
one being written, reviewed or approved), while ``published_version`` names
the version the public sees. The two differ after a published article is
edited: the edit becomes a new draft version and the published one stays live
until the draft is published in its turn (or discarded).

Two statuses are never stored, they follow from the time (an input here, as
everywhere in the cores): a published article whose ``publish_at`` lies ahead
is ``scheduled``, one whose ``expires_at`` has passed is ``expired``.

The table below is the whole state machine: ``(from, to) -> roles that may``.
A move absent from it is illegal (409); a move present but not for the
caller's role is forbidden (403).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from knowledge.errors import IllegalMove, NotAllowed


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    SCHEDULED = "scheduled"  # derived: published, publish_at ahead
    EXPIRED = "expired"  # derived: published, expires_at passed
    ARCHIVED = "archived"
    DISCARDED = "discarded"


AUTHORS = frozenset({"agent", "supervisor", "admin"})
"""Who writes drafts and sends them to review."""
EDITORS = frozenset({"supervisor", "admin"})
"""Who approves, publishes and archives."""

S = Status
TRANSITIONS: dict[tuple[Status, Status], frozenset[str]] = {
    (S.DRAFT, S.IN_REVIEW): AUTHORS,
    (S.DRAFT, S.DISCARDED): AUTHORS,
    (S.IN_REVIEW, S.DRAFT): AUTHORS,  # withdrawn by its author, or sent back
    (S.IN_REVIEW, S.APPROVED): EDITORS,
    (S.APPROVED, S.DRAFT): EDITORS,
    (S.APPROVED, S.PUBLISHED): EDITORS,
    (S.SCHEDULED, S.PUBLISHED): EDITORS,  # publish now after all (or reschedule)
    (S.SCHEDULED, S.APPROVED): EDITORS,  # unschedule
    (S.PUBLISHED, S.ARCHIVED): EDITORS,
    (S.SCHEDULED, S.ARCHIVED): EDITORS,
    (S.EXPIRED, S.ARCHIVED): EDITORS,
    (S.EXPIRED, S.PUBLISHED): EDITORS,  # republished with a new expiry date
    (S.EXPIRED, S.DRAFT): AUTHORS,
    (S.ARCHIVED, S.DRAFT): EDITORS,
}
"""Moves callers may ask for with ``POST .../transition {"to"}``."""

TARGETS = frozenset({S.DRAFT, S.IN_REVIEW, S.APPROVED, S.PUBLISHED, S.ARCHIVED, S.DISCARDED})
"""What ``to`` may name: the derived statuses are reached by the clock alone."""

EDITABLE = frozenset({S.DRAFT, S.IN_REVIEW, S.APPROVED, S.PUBLISHED, S.SCHEDULED, S.EXPIRED})
"""Statuses an edit is accepted in. Under review or approved, an edit sends
the version back to draft (an approval covers the exact text approved);
published, scheduled or expired, it starts a new draft version."""


def effective(
    stored: Status, publish_at: datetime | None, expires_at: datetime | None, now: datetime
) -> Status:
    """The status at ``now``: ``published`` becomes ``scheduled`` before
    ``publish_at`` and ``expired`` from ``expires_at`` on."""
    if stored != S.PUBLISHED:
        return stored
    if expires_at is not None and expires_at <= now:
        return S.EXPIRED
    if publish_at is not None and publish_at > now:
        return S.SCHEDULED
    return S.PUBLISHED


def check_move(current: Status, to: Status, role: str) -> None:
    """Raise unless ``role`` may move an article from ``current`` to ``to``.

    Raises:
        IllegalMove: the table has no such move (a reason says why not).
        NotAllowed: it has, but not for this role.
    """
    roles = TRANSITIONS.get((current, to))
    if roles is None:
        raise IllegalMove(current, to, _why_not(current, to))
    if role not in roles:
        raise NotAllowed(role, current, to)


def _why_not(current: Status, to: Status) -> str:
    if current == to:
        return "it is already there"
    if to not in TARGETS:
        return f"{to!r} follows from the dates, it cannot be asked for"
    if current == S.DISCARDED:
        return "a discarded article is final"
    if to == S.PUBLISHED and current in (S.DRAFT, S.IN_REVIEW):
        return "it must be reviewed and approved first"
    if to == S.APPROVED and current == S.DRAFT:
        return "it must be sent to review first"
    if to == S.DISCARDED:
        return "only a draft can be discarded; archive a published article"
    if current == S.ARCHIVED:
        return "an archived article goes back to draft first"
    if current in (S.PUBLISHED, S.SCHEDULED) and to == S.DRAFT:
        return "edit it instead: the edit becomes a new draft version"
    allowed = sorted(t for (f, t) in TRANSITIONS if f == current)
    return f"from {current!r} it can move to {', '.join(allowed) or 'nothing'}"
