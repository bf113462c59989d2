"""Proactive rules: which invitation, if any, and what is counted."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from proactive import InvitationCounts, ProactiveRule, ProactiveRules, Visit, check_rules


class FakeService:
    def __init__(self, free: set[str | None] = frozenset(), open_: bool = True) -> None:
        self.free = free
        self.is_open = open_
        self.asked: list[tuple[str, str | None]] = []

    def agents_available(self, queue: str | None) -> bool:
        self.asked.append(("agents_available", queue))
        return queue in self.free

    def open(self, calendar: str | None) -> bool:
        self.asked.append(("open", calendar))
        return self.is_open


def rules(*specs: dict[str, Any]) -> ProactiveRules:
    return ProactiveRules([ProactiveRule.model_validate(s) for s in specs])


PRICING = {
    "name": "pricing",
    "when": "page_url contains '/pricing' and seconds_on_page >= 30 and agents_available",
    "message": "Questions about plans?",
    "queue": "sales",
}
RETURNING = {
    "name": "returning",
    "when": "visits >= 3 and language == 'de' and variables.cart_value > 100 and open",
    "message": "Willkommen zurück!",
    "calendar": "office",
}


def test_first_matching_rule_invites():
    service = FakeService(free={"sales"})
    found = rules(PRICING, RETURNING).invite(Visit("https://x.test/pricing", 45), service)
    assert found is not None and found.to_wire() == {
        "rule": "pricing",
        "message": "Questions about plans?",
    }
    assert found.queue == "sales"
    assert service.asked == [("agents_available", "sales")]


def test_no_free_agent_no_invitation():
    service = FakeService(free=set())
    assert rules(PRICING).invite(Visit("https://x.test/pricing", 45), service) is None


def test_too_early_is_no_invitation_and_the_service_is_asked_only_when_named():
    service = FakeService(free={"sales"})
    visit = Visit(
        "https://x.test/pricing", 5, visits=3, language="de", variables={"cart_value": 150}
    )
    found = rules(PRICING, RETURNING).invite(visit, service)
    assert found is not None and found.rule == "returning"
    assert ("open", "office") in service.asked
    assert rules(RETURNING).invite(visit, FakeService(open_=False)) is None


def test_missing_page_facts_do_not_match():
    service = FakeService()
    assert rules(RETURNING).invite(Visit("https://x.test/", 100), service) is None


def test_rules_are_checked_at_config_load():
    with pytest.raises(ValidationError, match=r"proactive rule 'bad'.*column"):
        ProactiveRule.model_validate({"name": "bad", "when": "visits >", "message": "hi"})
    with pytest.raises(ValidationError, match="message"):
        ProactiveRule.model_validate({"name": "x", "when": "true"})
    good = [ProactiveRule.model_validate(PRICING)]
    with pytest.raises(ValueError, match="unknown queue 'sales'"):
        check_rules(good, ["default"])
    with pytest.raises(ValueError, match="defined twice"):
        check_rules(good * 2, ["default", "sales"])
    check_rules(good, ["default", "sales"])


def test_counts_per_rule_and_outcome():
    counts = InvitationCounts(["pricing", "returning"])
    for outcome in ("shown", "shown", "shown", "shown", "accepted", "declined"):
        counts.record("pricing", outcome)
    with pytest.raises(KeyError):
        counts.record("nope", "shown")
    with pytest.raises(ValueError, match="unknown outcome"):
        counts.record("pricing", "ignored")
    assert counts.report() == [
        {"rule": "pricing", "shown": 4, "accepted": 1, "declined": 1, "acceptance_rate": 0.25},
        {"rule": "returning", "shown": 0, "accepted": 0, "declined": 0, "acceptance_rate": None},
    ]
