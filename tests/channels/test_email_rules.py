from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from channels.email_rules import EmailRule, EmailRules, apply_email_rules
from channels.inbound import InboundMessage, LoopFlags

NOT_AUTOMATED = LoopFlags()


def mail(
    sender: str = "jane@customer.example",
    subject: str = "Help",
    recipient: str = "support@acme.example",
    flags: LoopFlags = NOT_AUTOMATED,
) -> InboundMessage:
    return InboundMessage(
        channel="email",
        external_id="<1@x>",
        sender=sender,
        text="hi",
        received_at=datetime(2025, 1, 1, tzinfo=UTC),
        subject=subject,
        recipient=recipient,
        flags=flags,
    )


RULES = EmailRules(
    rules=(
        EmailRule(name="spam", action="drop", from_domains=("spam.example",)),
        EmailRule(name="vip", from_domains=("bigcorp.example",), queue="vip", priority=10),
        EmailRule(
            name="urgent", subject_contains=("URGENT", "outage"), queue="incidents", priority=20
        ),
        EmailRule(
            name="billing",
            to_addresses=("billing@acme.example",),
            action="known_only",
            queue="billing",
        ),
    ),
    default_action="open",
    default_queue="general",
)


def test_first_matching_rule_decides() -> None:
    decision = apply_email_rules(
        RULES, mail(sender="ceo@eu.bigcorp.example", subject="urgent!"), False
    )
    assert (decision.action, decision.queue, decision.priority, decision.rule) == (
        "open",
        "vip",
        10,
        "vip",
    )


def test_subject_match_is_case_insensitive() -> None:
    decision = apply_email_rules(RULES, mail(subject="Total OUTAGE here"), False)
    assert (decision.queue, decision.priority) == ("incidents", 20)


def test_drop_rule() -> None:
    decision = apply_email_rules(RULES, mail(sender="x@spam.example"), True)
    assert decision.action == "drop" and decision.rule == "spam"


def test_known_only_rule_needs_a_known_customer() -> None:
    unknown = apply_email_rules(RULES, mail(recipient="billing+tok@acme.example"), False)
    known = apply_email_rules(RULES, mail(recipient="billing@acme.example"), True)
    assert unknown.action == "drop" and "not a known customer" in unknown.reason
    assert (known.action, known.queue) == ("open", "billing")


def test_defaults_when_no_rule_matches() -> None:
    decision = apply_email_rules(RULES, mail(), False)
    assert (decision.action, decision.queue, decision.rule) == ("open", "general", None)
    strict = RULES.model_copy(update={"default_action": "known_only"})
    assert apply_email_rules(strict, mail(), False).action == "drop"
    assert apply_email_rules(strict, mail(), True).action == "open"


def test_automated_mail_is_skipped_and_never_auto_answered() -> None:
    decision = apply_email_rules(RULES, mail(flags=LoopFlags(auto_submitted=True)), True)
    assert decision.action == "drop" and not decision.auto_reply_allowed
    keep = EmailRules(rules=(EmailRule(name="lists", automated=True, queue="lists"),))
    kept = apply_email_rules(keep, mail(flags=LoopFlags(bulk=True)), False)
    assert (kept.action, kept.queue, kept.auto_reply_allowed) == ("open", "lists", False)
    assert apply_email_rules(keep, mail(), False).auto_reply_allowed


def test_rules_load_from_toml_shaped_data() -> None:
    rules = EmailRules.model_validate(
        {"default_action": "drop", "rules": [{"name": "a", "from_domains": ["X.example"]}]}
    )
    assert rules.rules[0].from_domains == ("x.example",)
    with pytest.raises(ValidationError):
        EmailRules.model_validate({"rules": [{"name": "a", "action": "maybe"}]})
    with pytest.raises(ValidationError):
        EmailRules.model_validate({"rules": [{"name": "a", "form_domains": ["typo"]}]})
