"""Capacity: how much concurrent work an agent can hold, per channel.

A profile limits work by count per channel (3 chats, 5 SMS, 10 emails), by
units (a chat costs 30 of 100), or both; an agent needs room under every
limit that applies. Pending offers reserve capacity exactly like assigned
work, so accepting an offer can never push an agent over.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from router.items import CHANNELS, Channel


@dataclass(frozen=True, slots=True)
class Capacity:
    """A resolved capacity profile.

    ``limits[ch]`` is the count limit (None: no count limit); a channel not in
    ``accepted`` is refused. ``units``/``costs`` add a shared budget.
    """

    limits: Mapping[Channel, int | None]
    accepted: frozenset[Channel]
    units: int | None = None
    costs: Mapping[Channel, int] = field(default_factory=dict)

    @classmethod
    def per_channel(cls, count: int) -> "Capacity":
        return cls(dict.fromkeys(CHANNELS, count), frozenset(CHANNELS))

    def cost(self, channel: Channel) -> int:
        return self.costs.get(channel, 0) if self.units is not None else 0

    def can_take(self, load: "Load", channel: Channel) -> bool:
        if channel not in self.accepted:
            return False
        limit = self.limits.get(channel)
        if limit is not None and load.counts.get(channel, 0) >= limit:
            return False
        return not (self.units is not None and load.units + self.cost(channel) > self.units)

    def free(self, load: "Load", channel: Channel) -> int:
        """How many more items of ``channel`` fit (for highest-capacity)."""
        if channel not in self.accepted:
            return 0
        room = 1 << 30
        limit = self.limits.get(channel)
        if limit is not None:
            room = limit - load.counts.get(channel, 0)
        if self.units is not None:
            c = self.cost(channel)
            if c > 0:
                room = min(room, (self.units - load.units) // c)
        return max(room, 0)

    def within(self, load: "Load") -> bool:
        """Whether ``load`` respects every limit."""
        for ch, n in load.counts.items():
            if n and ch not in self.accepted:
                return False
            limit = self.limits.get(ch)
            if limit is not None and n > limit:
                return False
        return not (self.units is not None and load.units > self.units)


@dataclass(slots=True)
class Load:
    """What an agent holds right now: assigned work plus pending offers."""

    counts: dict[Channel, int] = field(default_factory=dict)
    units: int = 0

    def add(self, channel: Channel, capacity: Capacity) -> None:
        self.counts[channel] = self.counts.get(channel, 0) + 1
        self.units += capacity.cost(channel)

    def remove(self, channel: Channel, capacity: Capacity) -> None:
        self.counts[channel] -= 1
        self.units -= capacity.cost(channel)

    def recompute(self, channels: list[Channel], capacity: Capacity) -> None:
        self.counts = {}
        self.units = 0
        for ch in channels:
            self.add(ch, capacity)
