"""Offer ids that name the router that made them.

Every new router numbers its offers from ``o-1`` again. On a cluster, an
accept for an offer of an earlier router must not reach an offer of the
current one with the same number, so outside the router an offer id carries
the fencing token: ``o-1`` of the router with token 7 is ``o-7.1``. An id
from another token maps to None: the router answers "unknown offer".
On one process (token 0) ids stay as the router makes them.
"""

from __future__ import annotations


class OfferIds:
    def __init__(self, token: int) -> None:
        self.token = token
        self._prefix = f"o-{token}."

    def outward(self, offer_id: str) -> str:
        if self.token == 0 or not offer_id.startswith("o-"):
            return offer_id
        return self._prefix + offer_id[2:]

    def inward(self, offer_id: str) -> str | None:
        if self.token == 0:
            return offer_id
        if not offer_id.startswith(self._prefix):
            return None
        return "o-" + offer_id[len(self._prefix) :]
