"""``[[calendars]]`` and ``[[sla]]`` of the config file, validated at start.

Every mistake the issue names is refused here, with the key: an unknown time
zone, hours that are inverted or overlap, a warning at or after its failure,
a pause status that does not exist, a ``when`` that does not parse, an
action that is not one of ours. ``check_references`` then checks the names
one section gives another (calendar names, queues of actions).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from durations import Duration
from router.errors import ExpressionError
from router.expressions import Expression
from sla.calendar import WEEKDAYS, Calendar

PAUSE_STATUSES = ("in_progress", "researching", "waiting_for_details", "on_hold")
"""Case status reasons of an active case: the ones a policy may pause on."""
BUILTIN_KPIS = ("first_response", "resolution")

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_ACTION = re.compile(
    r"^(notify|raise_priority(:[1-9])?|queue:[^\s:]+|reassign(:[^\s:]+)?|email:[^\s@]+@[^\s@]+)$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_range(text: str) -> tuple[int, int]:
    """``"09:00-13:00"`` -> ``(540, 780)`` minutes after local midnight."""
    match = _RANGE.match(text.strip())
    if match is None:
        raise ValueError(f"expected a range like '09:00-17:30', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start > 24 * 60 or end > 24 * 60:
        raise ValueError(f"not a time of day in {text!r} (00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"range {text!r} ends before it starts (ranges stay within one day)")
    return start, end


class Closure(_Model):
    """A one-off closure in local wall-clock time (a move, a storm)."""

    start: datetime
    end: datetime
    reason: str | None = None

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("closure start and end are local times: write them without an offset")
        if self.end <= self.start:
            raise ValueError(f"closure end {self.end} is not after its start {self.start}")
        return self


class CalendarConfig(_Model):
    """One ``[[calendars]]`` entry; days left out are closed."""

    name: str = Field(min_length=1, max_length=100)
    timezone: str
    monday: list[str] = Field(default_factory=list)
    tuesday: list[str] = Field(default_factory=list)
    wednesday: list[str] = Field(default_factory=list)
    thursday: list[str] = Field(default_factory=list)
    friday: list[str] = Field(default_factory=list)
    saturday: list[str] = Field(default_factory=list)
    sunday: list[str] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    closures: list[Closure] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as 'Europe/Rome')"
            ) from None
        return value

    @field_validator(*WEEKDAYS)
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        ranges = sorted((parse_range(text), text) for text in value)
        for (previous, before), (current, text) in itertools.pairwise(ranges):
            if current[0] < previous[1]:
                raise ValueError(f"ranges {before!r} and {text!r} overlap")
        return value

    @model_validator(mode="after")
    def _opens(self) -> Self:
        if not any(getattr(self, day) for day in WEEKDAYS):
            raise ValueError(f"calendar {self.name!r} has no open hours on any day")
        return self

    def weekly(self) -> list[list[tuple[int, int]]]:
        return [sorted(parse_range(text) for text in getattr(self, day)) for day in WEEKDAYS]

    def build(self) -> Calendar:
        return Calendar(
            self.name,
            self.timezone,
            self.weekly(),
            self.holidays,
            [(c.start, c.end) for c in self.closures],
        )


class KpiConfig(_Model):
    """One KPI of a policy with its warning and failure durations (business time).

    ``kpi`` is ``first_response``, ``resolution``, or a name of your own for
    a case KPI, which then needs ``succeed_when``: an expression over the
    case that, once true, completes it (``resolution != null``,
    ``status_reason == 'researching'``).
    """

    kpi: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    warn_after: Duration
    fail_after: Duration
    succeed_when: str | None = None
    on_warning: list[str] = Field(default_factory=lambda: ["notify"])
    on_failure: list[str] = Field(default_factory=lambda: ["notify"])

    @field_validator("succeed_when")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None:
            _parse(value)
        return value

    @field_validator("on_warning", "on_failure")
    @classmethod
    def _actions(cls, value: list[str]) -> list[str]:
        for action in value:
            if not _ACTION.match(action):
                raise ValueError(
                    f"unknown action {action!r} (expected notify, raise_priority[:N],"
                    " queue:NAME, reassign[:QUEUE] or email:ADDRESS)"
                )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.warn_after >= self.fail_after:
            raise ValueError(
                f"warn_after ({self.warn_after}) must come before fail_after ({self.fail_after})"
            )
        custom = self.kpi not in BUILTIN_KPIS
        if custom and self.succeed_when is None:
            raise ValueError(
                f"kpi {self.kpi!r} is not first_response or resolution: a custom case KPI"
                " needs succeed_when = '<expression over the case>'"
            )
        if not custom and self.succeed_when is not None:
            raise ValueError(f"kpi {self.kpi!r} is built in and takes no succeed_when")
        return self

    @property
    def custom(self) -> bool:
        return self.kpi not in BUILTIN_KPIS


class SlaPolicy(_Model):
    """One ``[[sla]]`` entry."""

    name: str = Field(min_length=1, max_length=200)
    applies_to: Literal["conversation", "case"] = "conversation"
    when: str | None = None
    calendar: str | None = None
    pause_on: list[str] = Field(default_factory=list)
    kpis: list[KpiConfig] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None:
            _parse(value)
        return value

    @field_validator("pause_on")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in PAUSE_STATUSES]
        if unknown:
            raise ValueError(
                f"unknown case status reason(s) {unknown} (expected some of"
                f" {', '.join(PAUSE_STATUSES)})"
            )
        return value

    @model_validator(mode="after")
    def _kpis(self) -> Self:
        names = [k.kpi for k in self.kpis]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"kpi {twice[0]!r} is listed twice in policy {self.name!r}")
        if self.applies_to == "conversation":
            custom = [k.kpi for k in self.kpis if k.custom]
            if custom:
                raise ValueError(
                    f"custom kpi {custom[0]!r} applies to cases only (applies_to = 'case')"
                )
        return self

    def condition(self) -> Expression | None:
        return None if self.when is None else Expression(self.when)


def _parse(text: str) -> Expression:
    try:
        return Expression(text)
    except ExpressionError as exc:
        raise ValueError(f"bad expression {text!r}: {exc}") from None


def check_references(
    calendars: Sequence[CalendarConfig],
    policies: Sequence[SlaPolicy],
    queues: Iterable[str] | None = None,
) -> None:
    """Names that one entry gives another; raises ``ValueError`` naming the key."""
    seen: set[str] = set()
    for i, calendar in enumerate(calendars):
        if calendar.name in seen:
            raise ValueError(f"calendars[{i}].name: calendar {calendar.name!r} is defined twice")
        seen.add(calendar.name)
    known_queues = None if queues is None else set(queues)
    names: set[str] = set()
    for i, policy in enumerate(policies):
        if policy.name in names:
            raise ValueError(f"sla[{i}].name: policy {policy.name!r} is defined twice")
        names.add(policy.name)
        if policy.calendar is not None and policy.calendar not in seen:
            known = ", ".join(sorted(seen)) or "none defined"
            raise ValueError(
                f"sla[{i}].calendar: unknown calendar {policy.calendar!r} (known: {known})"
            )
        for j, kpi in enumerate(policy.kpis):
            for key in ("on_warning", "on_failure"):
                for action in getattr(kpi, key):
                    name, _, queue = action.partition(":")
                    if (
                        known_queues is not None
                        and name in ("queue", "reassign")
                        and queue
                        and queue not in known_queues
                    ):
                        raise ValueError(
                            f"sla[{i}].kpis[{j}].{key}: {queue!r} is not a routing queue"
                            f" (known: {', '.join(sorted(known_queues))})"
                        )
