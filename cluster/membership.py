"""Which nodes are alive, from their heartbeats.

Every node beats every second or so with the number of agents it holds.
A node not heard from for ``timeout`` seconds is lost: the router drops
the agent connections it held (their agents may reconnect elsewhere).
Time is an input; the Redis shell keeps the beats in one hash.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    last_seen: float
    agents: int = 0


class Membership:
    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"membership timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._members: dict[str, Member] = {}

    def beat(self, node: str, now: float, agents: int = 0) -> bool:
        """Record a heartbeat; True if the node was not a member (it joined).

        A beat older than the one recorded is ignored (beats may arrive out
        of order)."""
        known = self._members.get(node)
        if known is not None and known.last_seen > now:
            return False
        self._members[node] = Member(node, now, agents)
        return known is None

    def alive(self, now: float) -> list[Member]:
        """Members heard from within ``timeout``, by id."""
        return sorted(
            (m for m in self._members.values() if now - m.last_seen < self.timeout),
            key=lambda m: m.id,
        )

    def expire(self, now: float) -> list[str]:
        """Remove and return the members not heard from within ``timeout``."""
        lost = sorted(n for n, m in self._members.items() if now - m.last_seen >= self.timeout)
        for node in lost:
            del self._members[node]
        return lost

    def __contains__(self, node: object) -> bool:
        return node in self._members
