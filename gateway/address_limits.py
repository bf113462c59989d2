"""Per-client-address limits on the doors anyone may knock on: new web chat
sessions, provider webhooks (and device alerts), and open websockets
(``[limits] sessions_*``, ``webhooks_*``, ``websockets_per_address``).

A refused request is 429 ``rate_limited`` with ``Retry-After``; a refused
websocket is closed with 4429. Counts live in this process, as the widget's
knowledge limits do: behind a load balancer with N nodes an address gets up
to N times the budget. The client address is the peer's, or the forwarded
one from a trusted proxy (see ``gateway.api.client_address``).
"""

from __future__ import annotations

import math

from gateway.errors import TooManyRequests
from gateway.ratelimit import AddressBuckets, AddressSlots
from gateway.settings import Limits

CLOSE_TOO_MANY_CONNECTIONS = 4429


class AddressLimits:
    def __init__(self, limits: Limits) -> None:
        self.sessions = AddressBuckets(limits.sessions_per_second, limits.sessions_burst)
        self.webhooks = AddressBuckets(limits.webhooks_per_second, limits.webhooks_burst)
        self.websockets = AddressSlots(limits.websockets_per_address)

    def new_session(self, address: str, now: float) -> None:
        """Count a web chat session request; raises ``TooManyRequests`` past the rate."""
        _take(self.sessions, address, now, "new chat sessions")

    def webhook(self, address: str, now: float) -> None:
        """Count a webhook request; raises ``TooManyRequests`` past the rate."""
        _take(self.webhooks, address, now, "webhook requests")


def _take(buckets: AddressBuckets, address: str, now: float, what: str) -> None:
    if buckets.allow(address, now):
        return
    seconds = max(1, math.ceil(buckets.retry_after(address, now)))
    raise TooManyRequests(
        f"too many {what} from this address; try again in {seconds} s",
        retry_after=seconds,
        code="rate_limited",
    )


__all__ = ["CLOSE_TOO_MANY_CONNECTIONS", "AddressLimits"]
