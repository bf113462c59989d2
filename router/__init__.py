"""The routing core: work items in, offers and assignments out.

Pure and synchronous: ``Router.handle(event, now)`` returns commands and
never does I/O. The gateway feeds it events from the event log and carries
out the commands. See docs/routing.md.
"""

from router.config import CapacityProfile, RoutingConfig
from router.core import Router
from router.errors import (
    ConfigError,
    ExpressionError,
    IllegalTransition,
    InvariantViolation,
    RoutingError,
)
from router.events import (
    AgentConnected,
    AgentDisconnected,
    AgentRemoved,
    AgentUpserted,
    Command,
    Event,
    ItemArrived,
    ItemAssigned,
    ItemCancelled,
    ItemClosed,
    ItemOverflowed,
    ItemQueued,
    ItemRequeued,
    ManualAssign,
    OfferAccepted,
    OfferMade,
    OfferRejected,
    OfferRevoked,
    PresenceChanged,
    PresenceUpdated,
    PriorityChanged,
    Rejected,
    Tick,
    Transferred,
)
from router.intake import time_attributes
from router.invariants import check_invariants
from router.items import CHANNELS, Channel, SkillRequirement, WorkItem
from router.snapshots import AgentSnapshot, QueueSnapshot

__all__ = [
    "CHANNELS",
    "AgentConnected",
    "AgentDisconnected",
    "AgentRemoved",
    "AgentSnapshot",
    "AgentUpserted",
    "CapacityProfile",
    "Channel",
    "Command",
    "ConfigError",
    "Event",
    "ExpressionError",
    "IllegalTransition",
    "InvariantViolation",
    "ItemArrived",
    "ItemAssigned",
    "ItemCancelled",
    "ItemClosed",
    "ItemOverflowed",
    "ItemQueued",
    "ItemRequeued",
    "ManualAssign",
    "OfferAccepted",
    "OfferMade",
    "OfferRejected",
    "OfferRevoked",
    "PresenceChanged",
    "PresenceUpdated",
    "PriorityChanged",
    "QueueSnapshot",
    "Rejected",
    "Router",
    "RoutingConfig",
    "RoutingError",
    "SkillRequirement",
    "Tick",
    "Transferred",
    "WorkItem",
    "check_invariants",
    "time_attributes",
]
