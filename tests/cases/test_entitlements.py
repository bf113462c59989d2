"""Entitlements: choosing one for a new case, charging, giving back, warn or refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cases.entitlements import (
    Entitlement,
    EntitlementKind,
    EntitlementState,
    check_explicit,
    choose,
)
from cases.errors import EntitlementRefused

NOW = datetime(2026, 11, 29, tzinfo=UTC)
TODAY = date(2026, 11, 29)


def ent(id: str = "e1", kind: str = "cases", total: float = 3, used: int = 0, **kw: object):
    values = {"starts_on": date(2026, 1, 1), "ends_on": date(2026, 12, 31), **kw}
    return Entitlement(
        id=id,
        customer_id="cu",
        name=id,
        kind=EntitlementKind(kind),
        total=total,
        used=used,
        created_at=NOW,
        **values,
    )  # type: ignore[arg-type]


def test_cases_entitlement_counts_whole_cases():
    e = ent(total=3)
    assert e.remaining == 3
    e = e.charged(e.charge_for(billable_minutes=500))
    assert e.remaining == 2
    assert e.given_back(1).remaining == 3


def test_hours_entitlement_counts_billable_minutes():
    e = ent(kind="hours", total=10)
    e = e.charged(e.charge_for(billable_minutes=90))
    assert e.remaining == 8.5
    assert e.given_back(90).remaining == 10


def test_states_by_date_and_use():
    assert ent().state(TODAY) is EntitlementState.ACTIVE
    assert ent(used=3).state(TODAY) is EntitlementState.EXHAUSTED
    assert ent(ends_on=date(2026, 11, 28)).state(TODAY) is EntitlementState.EXPIRED
    assert ent(starts_on=date(2026, 12, 1)).state(TODAY) is EntitlementState.NOT_STARTED
    assert ent(ends_on=TODAY).state(TODAY) is EntitlementState.ACTIVE  # ends_on is inclusive


def test_bad_entitlements_are_refused():
    with pytest.raises(ValueError, match="before"):
        ent(starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 1))
    with pytest.raises(ValueError, match="whole"):
        ent(total=1.5)
    with pytest.raises(ValueError):
        ent(total=0)


def test_the_active_one_ending_first_is_chosen_and_restrictions_apply():
    later = ent("later", ends_on=date(2027, 6, 1))
    sooner = ent("sooner", ends_on=date(2026, 12, 1))
    email_only = ent("email", ends_on=date(2026, 11, 30), channel="email")
    found = [later, sooner, email_only]
    assert (
        choose(found, channel="sms", product=None, on=TODAY, behaviour="warn").entitlement == sooner
    )
    assert (
        choose(found, channel="email", product=None, on=TODAY, behaviour="warn").entitlement
        == email_only
    )
    printer = ent("printer", product="printer")
    assert (
        choose([printer], channel=None, product="scanner", on=TODAY, behaviour="refuse").entitlement
        is None
    )


def test_exhausted_warns_or_refuses_as_configured():
    spent = ent(used=3)
    choice = choose([spent], channel=None, product=None, on=TODAY, behaviour="warn")
    assert choice.entitlement == spent and choice.state is EntitlementState.EXHAUSTED
    assert "exhausted" in (choice.warning or "")
    with pytest.raises(EntitlementRefused, match="exhausted"):
        choose([spent], channel=None, product=None, on=TODAY, behaviour="refuse")
    expired = ent(ends_on=date(2026, 1, 31))
    with pytest.raises(EntitlementRefused, match="expired"):
        check_explicit(expired, TODAY, "refuse")
    assert check_explicit(expired, TODAY, "warn").warning is not None


def test_no_entitlement_means_no_choice_and_no_refusal():
    choice = choose([], channel=None, product=None, on=TODAY, behaviour="refuse")
    assert choice.entitlement is None and choice.warning is None
