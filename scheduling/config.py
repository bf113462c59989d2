"""The ``[scheduling]`` section of the config file, validated at start.

::

    [scheduling]
    step = "15m"                 # the grid of slot start times
    default_count = 5            # slots a search returns without "count"
    max_count = 50
    reminder_before = "24h"      # when the customer's reminder goes out
    reminder_poll = "30s"        # how often due reminders are looked for
    notify = true                # confirmation, reminder, changes to the customer
    cancel_keyword = "C"         # an SMS reply of just this cancels
    max_window = "31d"           # longest search window
    default_calendar = "workshop"  # for resources that name none (else they must)

    [[scheduling.calendars]]     # working calendars of resources, as [[calendars]]
    name = "workshop"
    timezone = "Europe/Rome"
    monday = ["08:00-12:00", "13:00-17:00"]
    holidays = ["2026-12-25"]
    closures = [{start = "2026-12-24T12:00:00Z", end = "2026-12-24T17:00:00Z"}]

Resources name their calendar; the names come from these, from the
service desk's top-level ``[[calendars]]`` (business hours) when present, and
the built-in ``"24x7"``. A resource must have one: without
``default_calendar`` a resource that names none is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from durations import Duration
from scheduling.calendars import ALWAYS_OPEN_NAME, DAYS, WeeklyHours
from scheduling.errors import InvalidModel

CARRIER_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "UNSTOP", "HELP", "INFO"}
)


class SchedulingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: Duration = timedelta(minutes=15)
    default_count: int = Field(5, ge=1, le=500)
    max_count: int = Field(50, ge=1, le=500)
    reminder_before: Duration = timedelta(hours=24)
    max_window: Duration = timedelta(days=31)
    reminder_poll: Duration = timedelta(seconds=30)
    """How often due reminders are looked for."""
    notify: bool = True
    """Send the customer a confirmation, a reminder and changes on their channel."""
    cancel_keyword: str = Field("C", min_length=1, max_length=20)
    """An SMS reply of just this cancels the customer's next appointment."""
    sender_name: str = Field("Appointments", min_length=1, max_length=100)
    default_calendar: str | None = Field(None, min_length=1, max_length=100)
    """The calendar of resources that name none; without it they must name one."""
    calendars: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("step")
    @classmethod
    def _step(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1) or value > timedelta(days=1):
            raise ValueError("step must be between 1m and 1d")
        return value

    @field_validator("cancel_keyword")
    @classmethod
    def _keyword(cls, value: str) -> str:
        if value.strip().upper() in CARRIER_KEYWORDS:
            raise ValueError(
                f"{value!r} is an SMS opt-out or opt-in keyword; carriers act on it"
                " (pick another, e.g. 'C')"
            )
        return value.strip()

    @field_validator("calendars")
    @classmethod
    def _calendars(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = set()
        allowed = {"name", "timezone", "holidays", "closures", *DAYS}
        for i, entry in enumerate(value):
            unknown = sorted(set(entry) - allowed)
            if unknown:
                raise ValueError(f"calendars[{i}]: unknown setting {unknown[0]!r}")
            try:
                cal = WeeklyHours.from_config(entry)
            except (InvalidModel, KeyError, TypeError) as exc:
                raise ValueError(f"calendars[{i}]: {exc}") from None
            if cal.name in names:
                raise ValueError(f"calendars[{i}]: the name {cal.name!r} is used twice")
            if not any(cal.weekly.values()):
                raise ValueError(
                    f"calendars[{i}]: calendar {cal.name!r} has no open hours on any day"
                )
            names.add(cal.name)
        return value

    def check_names(self, desk_calendars: list[str]) -> None:
        """``default_calendar`` must name a calendar (ours, the service desk's
        ``[[calendars]]`` or ``"24x7"``); ``ValueError`` naming the key otherwise."""
        if self.default_calendar is None:
            return
        known = {ALWAYS_OPEN_NAME, *desk_calendars, *(str(e.get("name")) for e in self.calendars)}
        if self.default_calendar not in known:
            raise ValueError(
                f"scheduling.default_calendar: unknown calendar {self.default_calendar!r}"
                f" (known: {', '.join(sorted(known))})"
            )

    def weekly_calendars(self) -> dict[str, WeeklyHours]:
        return {c.name: c for c in (WeeklyHours.from_config(e) for e in self.calendars)}
