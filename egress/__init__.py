"""The egress guard: every URL the server fetches goes through it.

``Policy`` (pure) says which addresses, schemes, sizes and times are
allowed; ``async_client`` and ``sync_client`` make httpx clients that check
each connection against it as the socket is opened. See docs/security.md.
"""

from egress.client import Refused, async_client, sync_client
from egress.policy import Policy, not_public, parse_network

__all__ = ["Policy", "Refused", "async_client", "not_public", "parse_network", "sync_client"]
