"""Work items: what waits in a queue, and the item status table.

A ``WorkItem`` is the router's view of a conversation that needs an agent.
Its status moves through ``TRANSITIONS``; anything else is a bug and raises.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

from router.errors import IllegalTransition

Channel = Literal["webchat", "sms", "email", "messenger", "whatsapp", "telegram"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

MIN_LEVEL = 1
MAX_LEVEL = 5


@dataclass(frozen=True, slots=True, order=True)
class SkillRequirement:
    """A skill an item needs, at ``level`` (1-5) or above.

    An optional skill is required in the inner overflow rings and dropped by a
    ``drop_optional`` overflow step.
    """

    name: str
    level: int = 1
    optional: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a skill requirement needs a name")
        if not MIN_LEVEL <= self.level <= MAX_LEVEL:
            raise ValueError(
                f"skill {self.name!r}: level must be {MIN_LEVEL}-{MAX_LEVEL}, got {self.level}"
            )


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A conversation waiting for an agent, as it arrives (before intake)."""

    id: str
    channel: Channel
    arrived_at: float
    queue: str | None = None
    skills: tuple[SkillRequirement, ...] = ()
    priority: int = 0
    language: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {CHANNELS}")


class ItemStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    CLOSED = "closed"


_S = ItemStatus

TRANSITIONS: Mapping[ItemStatus, frozenset[ItemStatus]] = {
    # Offered to one agent, taken by hand, or the customer left.
    _S.WAITING: frozenset({_S.OFFERED, _S.ASSIGNED, _S.CLOSED}),
    # Accepted; rejected/timed out/revoked (waits again); or closed.
    _S.OFFERED: frozenset({_S.WAITING, _S.ASSIGNED, _S.CLOSED}),
    # Transferred or handed back (waits again), or closed.
    _S.ASSIGNED: frozenset({_S.WAITING, _S.CLOSED}),
    _S.CLOSED: frozenset(),
}


def check_item_transition(current: ItemStatus, target: ItemStatus) -> ItemStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("item", current.value, f"-> {target.value}")
    return target
