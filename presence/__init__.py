"""Agent presence: who is at the desk and whether they take new work.

A sans-I/O tracker of each agent's chosen status, their websocket
connections and the reconnect grace period. The router owns one tracker and
asks it whether an agent may get a new offer; the gateway feeds it connects,
disconnects and status changes through router events.
"""

from presence.config import CustomStatus, PresenceSettings
from presence.errors import PresenceError, UnknownStatus
from presence.statuses import BUILTIN_STATUSES, StatusCatalog
from presence.tracker import PresenceTracker

__all__ = [
    "BUILTIN_STATUSES",
    "CustomStatus",
    "PresenceError",
    "PresenceSettings",
    "PresenceTracker",
    "StatusCatalog",
    "UnknownStatus",
]
