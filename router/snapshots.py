"""Read-only views of the router for supervisors (queues and agents)."""

from collections.abc import Mapping
from dataclasses import dataclass

from router.items import Channel


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    name: str
    waiting: int
    offered: int
    longest_wait: float  # seconds the oldest waiting item has waited; 0 if none
    by_priority: Mapping[int, int]  # waiting items per priority


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent_id: str
    name: str
    presence: str  # effective status
    connected: bool
    load: Mapping[Channel, int]  # assigned + offered, per channel
    capacity: Mapping[Channel, int | None]  # count limit per accepted channel
    units_used: int
    units: int | None
    open_offers: tuple[str, ...]
    assigned: tuple[str, ...]
