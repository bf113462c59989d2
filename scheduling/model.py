"""Resources, services and what a service requires of them.

A *resource* is a person (an agent or field staff, with the same skills and
proficiency levels 1-5 as routing), a piece of equipment or a facility; it
works by a calendar (24x7 without one), may stand at a site, and may have
closures of its own (leave, maintenance). A *service* takes a duration and a
set of *requirements*, each met by one distinct resource: a kind, minimum
skill levels, or one named resource. Buffers before and after (travel,
cleaning) keep the resource busy, and inside working time, around the visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal

from scheduling.calendars import check_closures, zone
from scheduling.errors import InvalidModel

Kind = Literal["person", "equipment", "facility"]
KINDS: tuple[Kind, ...] = ("person", "equipment", "facility")
MAX_LEVEL = 5


@dataclass(frozen=True)
class Resource:
    id: str
    name: str
    kind: Kind
    skills: Mapping[str, int] = field(default_factory=dict)
    calendar: str | None = None
    """The name of the working calendar; ``None`` works 24x7."""
    site: str | None = None
    user: str | None = None
    """The username of the account, for people who are also agents."""
    closures: tuple[tuple[datetime, datetime], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidModel(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for skill, level in self.skills.items():
            if not 1 <= level <= MAX_LEVEL:
                raise InvalidModel(f"skill {skill!r}: level must be 1-{MAX_LEVEL}, got {level}")
        check_closures(self.closures, f"resource {self.name!r}")


@dataclass(frozen=True)
class Requirement:
    """One resource a service needs."""

    kind: Kind
    skills: Mapping[str, int] = field(default_factory=dict)
    """Minimum levels: the resource must have each skill at least at this level."""
    resource: str | None = None
    """A specific resource id; then kind and skills must match it too."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidModel(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for skill, level in self.skills.items():
            if not 1 <= level <= MAX_LEVEL:
                raise InvalidModel(f"skill {skill!r}: level must be 1-{MAX_LEVEL}, got {level}")

    def accepts(self, resource: Resource) -> bool:
        if resource.kind != self.kind:
            return False
        if self.resource is not None and resource.id != self.resource:
            return False
        return all(resource.skills.get(s, 0) >= lvl for s, lvl in self.skills.items())

    def proficiency(self, resource: Resource) -> int:
        """How well the resource meets this requirement: the sum of its levels in
        the required skills (0 when none are required)."""
        return sum(resource.skills.get(s, 0) for s in self.skills)

    def describe(self) -> str:
        text: str = self.kind
        if self.resource:
            text += f" {self.resource}"
        if self.skills:
            text += " with " + ", ".join(f"{s} >= {lvl}" for s, lvl in sorted(self.skills.items()))
        return text


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    duration: timedelta
    requires: tuple[Requirement, ...]
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    same_site: bool = False
    """All resources must stand at one site (a resource without a site goes anywhere)."""
    preferred_resource: str | None = None
    earliest_start: time | None = None
    """Local time of day (in ``timezone``) before which it may not start."""
    latest_start: time | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise InvalidModel("duration must be positive")
        if self.duration > timedelta(days=7):
            raise InvalidModel("duration must be at most 7 days")
        if not self.requires:
            raise InvalidModel("requires: a service needs at least one resource")
        if self.buffer_before < timedelta(0) or self.buffer_after < timedelta(0):
            raise InvalidModel("buffers cannot be negative")
        zone(self.timezone)
        if (
            self.earliest_start is not None
            and self.latest_start is not None
            and self.latest_start < self.earliest_start
        ):
            raise InvalidModel("latest_start is before earliest_start")
        named = [r.resource for r in self.requires if r.resource is not None]
        if len(named) != len(set(named)):
            raise InvalidModel("requires: the same resource is named twice")

    @property
    def seconds(self) -> int:
        return int(self.duration.total_seconds())

    @property
    def before_s(self) -> int:
        return int(self.buffer_before.total_seconds())

    @property
    def after_s(self) -> int:
        return int(self.buffer_after.total_seconds())
