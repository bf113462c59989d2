"""Service KPIs over a set of conversations: pure arithmetic, no I/O.

The shell (``gateway/reports_api.py``) reads the facts of every conversation
in a period from the store and hands them here; ``summarize`` turns them into
the KPI object of the protocol, and ``breakdown`` does the same per queue,
channel, agent or day. Definitions (docs/service.md, "KPIs"):

- first response: from the customer's first message to the first message of
  an agent (not a bot, not the system) at or after it;
- resolution: from the conversation's creation to its closing;
- abandoned: closed with a customer message but without any agent message
  (the customer left, or was let go, before anyone answered);
- transfers: moves of an assigned conversation to a queue;
- CSAT: the average of the 1-5 answers; NPS: the percentage of promoters
  (9-10) minus that of detractors (0-6) among the 0-10 answers;
- median and p90 interpolate linearly between the closest ranks.

Durations count in business time where a calendar applies, item by item:
``Durations`` measures each conversation's first response and resolution in
the calendar of its own SLA KPI instance of that KPI (``SlaFacts.calendar``,
what the clock counted in); a conversation without one counts in the
calendar its other instances agree on, else 24x7 (elapsed seconds). The
shell hands in how each named calendar counts (``Between``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SLA_COUNTED = ("succeeded", "noncompliant")

Between = Callable[[datetime, datetime], float]
"""Seconds counted from one instant to a later one."""


def elapsed(start: datetime, end: datetime) -> float:
    """Plain wall-clock seconds (a 24x7 calendar)."""
    return (end - start).total_seconds()


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    id: str
    channel: str
    queue: str
    agent_id: str | None
    status: str
    created_at: datetime
    closed_at: datetime | None = None
    first_customer_at: datetime | None = None
    first_reply_at: datetime | None = None
    """The first agent message at or after ``first_customer_at``."""
    first_agent_at: datetime | None = None
    """The first agent message at all."""
    transfers: int = 0

    def first_response_seconds(self, between: Between = elapsed) -> float | None:
        if self.first_customer_at is None or self.first_reply_at is None:
            return None
        return max(0.0, between(self.first_customer_at, self.first_reply_at))

    def resolution_seconds(self, between: Between = elapsed) -> float | None:
        if self.closed_at is None:
            return None
        return max(0.0, between(self.created_at, self.closed_at))

    @property
    def abandoned(self) -> bool:
        if self.status != "closed" or self.first_customer_at is None:
            return False
        return self.first_agent_at is None or (
            self.closed_at is not None and self.first_agent_at > self.closed_at
        )


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    conversation_id: str
    answered: bool
    csat: int | None = None
    nps: int | None = None


@dataclass(frozen=True, slots=True)
class SlaFacts:
    """One SLA KPI instance of a conversation (``sla_instances``): its status,
    and the KPI and calendar (None: 24x7) its clock counted in."""

    conversation_id: str
    status: str
    kpi: str = ""
    calendar: str | None = None


def calendar_for(calendars: Mapping[str, str | None], kpi: str) -> str | None:
    """The calendar to count ``kpi`` in, given the KPI -> calendar of one
    item's SLA instances: the KPI's own instance; without one, the calendar
    all the item's instances share (its policies name one); else 24x7 (None).
    """
    if kpi in calendars:
        return calendars[kpi]
    named = set(calendars.values())
    return named.pop() if len(named) == 1 else None


class Durations:
    """First response and resolution seconds per conversation, each counted
    in its own calendar (``calendar_for`` over its SLA instances), computed
    once per conversation however many breakdowns ask.

    Args:
        slas: the SLA instances of the conversations (others are ignored).
        calendars: how each calendar name counts; a name not in it (a
            calendar no longer configured) counts 24x7.
    """

    def __init__(
        self, slas: Iterable[SlaFacts] = (), calendars: Mapping[str, Between] | None = None
    ) -> None:
        self._calendars = dict(calendars or {})
        self._of: dict[str, dict[str, str | None]] = defaultdict(dict)
        for instance in slas:
            if instance.kpi:  # a conversation has one instance per KPI
                self._of[instance.conversation_id].setdefault(instance.kpi, instance.calendar)
        self._first: dict[str, float | None] = {}
        self._resolution: dict[str, float | None] = {}

    def calendar(self, conversation_id: str, kpi: str) -> str | None:
        found = self._of.get(conversation_id)
        return None if found is None else calendar_for(found, kpi)

    def _between(self, conversation_id: str, kpi: str) -> Between:
        name = self.calendar(conversation_id, kpi)
        return elapsed if name is None else self._calendars.get(name, elapsed)

    def first_response(self, c: ConversationFacts) -> float | None:
        if c.id not in self._first:
            self._first[c.id] = c.first_response_seconds(self._between(c.id, "first_response"))
        return self._first[c.id]

    def resolution(self, c: ConversationFacts) -> float | None:
        if c.id not in self._resolution:
            self._resolution[c.id] = c.resolution_seconds(self._between(c.id, "resolution"))
        return self._resolution[c.id]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values``, interpolating linearly between
    the closest ranks; None for no values.

    Raises:
        ValueError: ``q`` outside 0-1.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile is between 0 and 1, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    share = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * share


def nps_score(answers: Iterable[int]) -> float | None:
    """% promoters (9-10) minus % detractors (0-6); None for no answers."""
    values = list(answers)
    if not values:
        return None
    promoters = sum(1 for v in values if v >= 9)
    detractors = sum(1 for v in values if v <= 6)
    return round(100.0 * (promoters - detractors) / len(values), 1)


def average(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "median": _seconds(percentile(values, 0.5)),
        "p90": _seconds(percentile(values, 0.9)),
    }


def summarize(
    conversations: Sequence[ConversationFacts],
    surveys: Sequence[SurveyFacts] = (),
    slas: Sequence[SlaFacts] = (),
    durations: Durations | None = None,
) -> dict[str, Any]:
    """The protocol's KPI object for these conversations (surveys and SLA
    instances of other conversations are ignored), plus ``transfers`` and
    ``surveys`` (asked, response rate). ``durations`` counts the times
    (default: each in the calendar of its SLA instances as ``slas`` name
    them, with no calendar known, so 24x7)."""
    ids = {c.id for c in conversations}
    measure = durations if durations is not None else Durations(slas)
    first = [s for c in conversations if (s := measure.first_response(c)) is not None]
    resolved = [s for c in conversations if (s := measure.resolution(c)) is not None]
    mine = [s for s in surveys if s.conversation_id in ids]
    csat = [s.csat for s in mine if s.answered and s.csat is not None]
    nps = [s.nps for s in mine if s.answered and s.nps is not None]
    answered = sum(1 for s in mine if s.answered)
    sla = dict.fromkeys(SLA_COUNTED, 0)
    for instance in slas:
        if instance.conversation_id in ids and instance.status in sla:
            sla[instance.status] += 1
    return {
        "conversations": len(conversations),
        "first_response_seconds": _spread(first),
        "resolution_seconds": _spread(resolved),
        "sla": sla,
        "abandoned": sum(1 for c in conversations if c.abandoned),
        "csat": {"average": average(csat), "responses": len(csat)},
        "nps": {"score": nps_score(nps), "responses": len(nps)},
        "transfers": sum(c.transfers for c in conversations),
        "surveys": {
            "asked": len(mine),
            "answered": answered,
            "response_rate": round(answered / len(mine), 3) if mine else None,
        },
    }


def breakdown(
    conversations: Sequence[ConversationFacts],
    key: Callable[[ConversationFacts], str | None],
    surveys: Sequence[SurveyFacts] = (),
    slas: Sequence[SlaFacts] = (),
    durations: Durations | None = None,
) -> dict[str, dict[str, Any]]:
    """``summarize`` per group of ``key`` (conversations whose key is None
    are left out), groups in sorted order."""
    measure = durations if durations is not None else Durations(slas)
    groups: dict[str, list[ConversationFacts]] = defaultdict(list)
    for conversation in conversations:
        name = key(conversation)
        if name is not None:
            groups[name].append(conversation)
    by_id: Mapping[str, list[ConversationFacts]] = groups
    return {name: summarize(by_id[name], surveys, slas, measure) for name in sorted(by_id)}


def by_day(conversation: ConversationFacts) -> str:
    """The UTC date a conversation was created, as ``YYYY-MM-DD``."""
    return conversation.created_at.date().isoformat()
