"""Entitlements: how much support a customer has bought, and using it up.

An entitlement grants a number of cases, or of support hours, between two
dates (inclusive), optionally only on one channel and/or for one product.
A new case takes the customer's active entitlement by default. Resolving
the case charges it (one case, or the case's billable minutes); cancelling
charges nothing; reactivating gives back exactly what resolving took (the
case keeps that amount as ``entitlement_charge``).

When the only entitlement that fits is exhausted or expired, the configured
behaviour decides: ``warn`` attaches it anyway so the agent sees the state
on the case (a charge then runs ``remaining`` below zero: the overage), and
``refuse`` refuses to create the case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from cases.errors import EntitlementRefused

Behaviour = Literal["warn", "refuse"]


class EntitlementKind(StrEnum):
    CASES = "cases"
    HOURS = "hours"


class EntitlementState(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    NOT_STARTED = "not_started"


@dataclass(frozen=True, slots=True)
class Entitlement:
    id: str
    customer_id: str
    name: str
    kind: EntitlementKind
    total: float
    """Cases, or hours."""
    used: int
    """Cases, or minutes: whole units, so charges and give-backs add up exactly."""
    starts_on: date
    ends_on: date
    created_at: datetime
    channel: str | None = None
    product: str | None = None

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        if self.total <= 0:
            raise ValueError(f"total must be above 0, got {self.total}")
        if self.kind is EntitlementKind.CASES and self.total != int(self.total):
            raise ValueError(f"a cases entitlement counts whole cases, got {self.total}")

    @property
    def remaining(self) -> float:
        """Cases left, or hours left (to the minute, rounded to 2 decimals)."""
        if self.kind is EntitlementKind.CASES:
            return int(self.total) - self.used
        return round(self.total - self.used / 60, 2)

    def state(self, on: date) -> EntitlementState:
        if on < self.starts_on:
            return EntitlementState.NOT_STARTED
        if on > self.ends_on:
            return EntitlementState.EXPIRED
        if self.remaining <= 0:
            return EntitlementState.EXHAUSTED
        return EntitlementState.ACTIVE

    def fits(self, channel: str | None, product: str | None) -> bool:
        """Whether its channel/product restrictions allow a case of this kind."""
        if self.channel is not None and channel != self.channel:
            return False
        return self.product is None or product == self.product

    def charge_for(self, billable_minutes: int) -> int:
        """What resolving a case with these billable minutes takes."""
        return 1 if self.kind is EntitlementKind.CASES else max(billable_minutes, 0)

    def charged(self, amount: int) -> Entitlement:
        return replace(self, used=self.used + amount)

    def given_back(self, amount: int) -> Entitlement:
        return replace(self, used=max(self.used - amount, 0))


@dataclass(frozen=True, slots=True)
class Choice:
    """The entitlement a new case takes (``None``: none fits) and its state."""

    entitlement: Entitlement | None
    state: EntitlementState | None = None

    @property
    def warning(self) -> str | None:
        if self.entitlement is None or self.state is EntitlementState.ACTIVE:
            return None
        return f"entitlement {self.entitlement.name!r} is {self.state}"


def choose(
    entitlements: Iterable[Entitlement],
    *,
    channel: str | None,
    product: str | None,
    on: date,
    behaviour: Behaviour,
) -> Choice:
    """The entitlement a new case of the customer takes by default.

    An active one wins (the one ending first, so nothing bought goes to
    waste); else one that has started but is used up or over, for the
    agent to see; else none.

    Raises:
        EntitlementRefused: ``behaviour`` is ``refuse`` and only an exhausted
            or expired entitlement fits.
    """
    fitting = [e for e in entitlements if e.fits(channel, product)]
    active = [e for e in fitting if e.state(on) is EntitlementState.ACTIVE]
    if active:
        best = min(active, key=lambda e: (e.ends_on, e.created_at, e.id))
        return Choice(best, EntitlementState.ACTIVE)
    spent = [e for e in fitting if e.state(on) is not EntitlementState.NOT_STARTED]
    if not spent:
        return Choice(None)
    latest = max(spent, key=lambda e: (e.ends_on, e.created_at, e.id))
    state = latest.state(on)
    if behaviour == "refuse":
        raise EntitlementRefused(
            f"the customer's entitlement {latest.name!r} is {state}; a new case is refused"
        )
    return Choice(latest, state)


def check_explicit(entitlement: Entitlement, on: date, behaviour: Behaviour) -> Choice:
    """An entitlement named by the agent: same rules, no choosing."""
    state = entitlement.state(on)
    if state is not EntitlementState.ACTIVE and behaviour == "refuse":
        raise EntitlementRefused(f"entitlement {entitlement.name!r} is {state}; refused")
    return Choice(entitlement, state)
