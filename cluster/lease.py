"""The router lease with a fencing token, as a transition table.

Everything that decides who may run the cluster's one router lives here.
The lease is free or held by one node until ``expires_at``. Acquiring a
free (or lapsed) lease issues the next fencing token, a number that only
grows; renewing needs the holder's node id *and* token, so a node whose
lease lapsed and was taken by another cannot renew its way back. Releasing
is the holder's early ``expire``.

The token is what makes a stale router harmless: the store remembers the
highest token it was shown (``Fence``) and refuses a command that carries a
lower one. A router paused past its lease (GC, a stopped VM, a partition)
may still believe it routes; whatever it sends is refused.

The Redis shell (``gateway/cluster.py``) runs the same table as Lua
scripts on one key; ``cluster.sim`` runs it in memory. Time is an input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cluster.errors import IllegalTransition


class LeaseState(StrEnum):
    FREE = "free"
    HELD = "held"


class LeaseEvent(StrEnum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    RELEASE = "release"
    EXPIRE = "expire"


_L = LeaseState

TRANSITIONS: Mapping[tuple[LeaseState, LeaseEvent], LeaseState] = {
    (_L.FREE, LeaseEvent.ACQUIRE): _L.HELD,
    (_L.HELD, LeaseEvent.RENEW): _L.HELD,
    (_L.HELD, LeaseEvent.RELEASE): _L.FREE,
    (_L.HELD, LeaseEvent.EXPIRE): _L.FREE,
    # A held lease cannot be acquired (SET NX fails); a free one cannot be
    # renewed, released or expire.
}


@dataclass(frozen=True, slots=True)
class Grant:
    """The lease as one node holds it: its fencing token and until when."""

    node: str
    token: int
    expires_at: float


class Lease:
    """One lease. Refusals return ``None``; an illegal move raises."""

    def __init__(self, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl}")
        self.ttl = ttl
        self.state = LeaseState.FREE
        self.token = 0
        """The last token issued (0: never held)."""
        self._grant: Grant | None = None

    def _move(self, event: LeaseEvent) -> None:
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition(self.state.value, event.value)
        self.state = target

    def _expire_due(self, now: float) -> None:
        if self._grant is not None and now >= self._grant.expires_at:
            self._move(LeaseEvent.EXPIRE)
            self._grant = None

    def holder(self, now: float) -> Grant | None:
        """Who holds the lease at ``now`` (None: free)."""
        self._expire_due(now)
        return self._grant

    def acquire(self, node: str, now: float) -> Grant | None:
        """Take the lease if it is free at ``now``: a new, higher token."""
        self._expire_due(now)
        if self.state is LeaseState.HELD:
            return None
        self._move(LeaseEvent.ACQUIRE)
        self.token += 1
        self._grant = Grant(node, self.token, now + self.ttl)
        return self._grant

    def renew(self, node: str, token: int, now: float) -> Grant | None:
        """Extend the holder's lease; None if ``(node, token)`` does not hold it."""
        self._expire_due(now)
        grant = self._grant
        if grant is None or grant.node != node or grant.token != token:
            return None
        self._move(LeaseEvent.RENEW)
        self._grant = Grant(node, token, now + self.ttl)
        return self._grant

    def release(self, node: str, token: int, now: float) -> bool:
        """Give the lease up early (a clean shutdown): the next node need not wait."""
        self._expire_due(now)
        grant = self._grant
        if grant is None or grant.node != node or grant.token != token:
            return False
        self._move(LeaseEvent.RELEASE)
        self._grant = None
        return True


class Fence:
    """What the store keeps: the highest token it was shown.

    A new router raises the fence before it acts; a command is accepted only
    with the current token, so a stale router's commands are refused.
    """

    def __init__(self) -> None:
        self.token = 0

    def raise_to(self, token: int) -> bool:
        """Raise the fence; False if a higher token already raised it."""
        if token < self.token:
            return False
        self.token = token
        return True

    def admits(self, token: int) -> bool:
        return token == self.token
