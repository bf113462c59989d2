"""Events the router consumes and commands it returns.

All frozen dataclasses: they are values that go into the event log and come
out as decisions the gateway carries out (``OfferMade`` becomes an ``offer``
frame, ``OfferRevoked`` an ``offer_revoked`` frame, ``ItemAssigned`` an
``assigned`` frame, ``Rejected`` an ``error`` frame).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from router.config import CapacityProfile
from router.items import MAX_LEVEL, MIN_LEVEL, SkillRequirement, WorkItem

# --- events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentUpserted:
    """An agent is known (or changed). New agents start offline and disconnected.

    ``capacity`` is a profile name from config, an explicit profile, or None
    for ``default_capacity``. ``queues`` is the set of queues the agent
    serves; None means all (names not in the config are ignored).
    """

    agent_id: str
    name: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: str | CapacityProfile | None = None
    queues: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for skill, level in self.skills.items():
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ValueError(f"agent {self.agent_id!r}: skill {skill!r} level {level}")


@dataclass(frozen=True, slots=True)
class AgentRemoved:
    """The agent is gone: offers revoked, assigned work goes back to its queues."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    agent_id: str
    status: str


@dataclass(frozen=True, slots=True)
class AgentConnected:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentDisconnected:
    agent_id: str


@dataclass(frozen=True, slots=True)
class ItemArrived:
    """A raw item; intake rules decide its queue, skills and priority."""

    item: WorkItem


@dataclass(frozen=True, slots=True)
class ItemCancelled:
    """The customer left (or the item was withdrawn) before or during handling."""

    item_id: str
    reason: str = "customer_left"


@dataclass(frozen=True, slots=True)
class ItemClosed:
    item_id: str


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    offer_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class OfferRejected:
    offer_id: str
    agent_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing happened but time passed; send one at ``next_deadline()``."""


@dataclass(frozen=True, slots=True)
class Transferred:
    """The assigned agent sends the item to ``queue`` with a note.

    ``skills`` replaces the item's requirements; None keeps the ones intake set.
    """

    item_id: str
    agent_id: str
    queue: str
    note: str = ""
    skills: tuple[SkillRequirement, ...] | None = None


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    """New priority, and optionally a new queue (e.g. an escalation queue)."""

    item_id: str
    priority: int
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class ItemRequeued:
    """The assigned agent hands the item back to its queue."""

    item_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ManualAssign:
    """An agent or supervisor takes the item by hand (HTTP assign).

    Respects capacity unless ``force``; ignores queue, skills and presence,
    because a person chose. An open offer to someone else is revoked
    ("taken"); an open offer to this agent counts as accepted.
    """

    item_id: str
    agent_id: str
    force: bool = False


Event = (
    AgentUpserted
    | AgentRemoved
    | PresenceChanged
    | AgentConnected
    | AgentDisconnected
    | ItemArrived
    | ItemCancelled
    | ItemClosed
    | OfferAccepted
    | OfferRejected
    | Tick
    | Transferred
    | PriorityChanged
    | ItemRequeued
    | ManualAssign
)

# --- commands -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferMade:
    offer_id: str
    item_id: str
    agent_id: str
    queue: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class OfferRevoked:
    """reason: "timeout" | "taken" | "cancelled" | "unavailable"."""

    offer_id: str
    item_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ItemAssigned:
    item_id: str
    agent_id: str
    offer_id: str | None


@dataclass(frozen=True, slots=True)
class ItemQueued:
    """The item waits in ``queue``.

    reason: "arrived" | "transfer" | "overflow" | "priority" | "requeued" |
    "returned" (its agent was removed).
    """

    item_id: str
    queue: str
    priority: int
    reason: str = "arrived"
    note: str = ""


@dataclass(frozen=True, slots=True)
class ItemOverflowed:
    item_id: str
    from_queue: str
    to_queue: str | None
    step: str


@dataclass(frozen=True, slots=True)
class PresenceUpdated:
    agent_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event is not valid in the current state; nothing changed.

    ``code`` is stable (``offer_expired``, ``unknown_offer``, ``wrong_agent``,
    ...), ``message`` is for humans.
    """

    event: Event
    code: str
    message: str


Command = (
    OfferMade
    | OfferRevoked
    | ItemAssigned
    | ItemQueued
    | ItemOverflowed
    | PresenceUpdated
    | Rejected
)
