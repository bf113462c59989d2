"""The offer state machine, as a table.

Everything that decides what may happen to an offer lives here. An offer is
made to one agent for one item and ends exactly once: accepted, rejected by
the agent, expired at ``expires_at``, or revoked by the router (the item was
cancelled or taken, or the agent became unavailable). Asking a finished offer
to move again raises ``IllegalTransition``; the router checks first and turns
stale requests into ``Rejected`` commands.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from router.errors import IllegalTransition


class OfferState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REVOKED = "revoked"


class OfferEvent(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    EXPIRE = "expire"
    REVOKE = "revoke"


_P = OfferState

TRANSITIONS: Mapping[tuple[OfferState, OfferEvent], OfferState] = {
    (_P.PENDING, OfferEvent.ACCEPT): _P.ACCEPTED,
    (_P.PENDING, OfferEvent.REJECT): _P.REJECTED,
    (_P.PENDING, OfferEvent.EXPIRE): _P.EXPIRED,
    (_P.PENDING, OfferEvent.REVOKE): _P.REVOKED,
    # Every other state is final.
}


class RevokeReason(StrEnum):
    TIMEOUT = "timeout"
    TAKEN = "taken"  # someone took the item by hand
    CANCELLED = "cancelled"  # the customer left or the item was closed/moved
    UNAVAILABLE = "unavailable"  # the agent disconnected or left an accepting status


@dataclass(slots=True)
class Offer:
    id: str
    item_id: str
    agent_id: str
    queue: str
    made_at: float
    expires_at: float
    state: OfferState = OfferState.PENDING

    def apply(self, event: OfferEvent) -> OfferState:
        """Move by the table or raise ``IllegalTransition``."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition("offer", self.state.value, event.value)
        self.state = target
        return target
