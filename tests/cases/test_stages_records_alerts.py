"""Process-flow stages, record rules and follow-ups, device alert decisions, config errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cases.alerts import DeviceAlert, case_rule, is_repeat
from cases.config import AlertRule, CasesConfig, RecordRule
from cases.errors import StageIncomplete, UnknownStage
from cases.model import Case
from cases.records import FollowUp, on_customer_message, rule_for, title_from
from cases.stages import DEFAULT_FLOW

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CASE = Case(
    id="cs_1",
    number="CAS-00001",
    title="t",
    customer_id=None,
    created_at=NOW,
    updated_at=NOW,
    stage="identify",
)


def test_leaving_a_stage_needs_its_required_fields():
    with pytest.raises(StageIncomplete, match="customer"):
        DEFAULT_FLOW.move(CASE, "research")
    identified = replace(CASE, customer_id="cu_1")
    assert DEFAULT_FLOW.move(identified, "research") == "research"
    # Jumping over research needs research's fields too.
    with pytest.raises(StageIncomplete, match="description"):
        DEFAULT_FLOW.move(identified, "resolve")
    done = replace(identified, description="jammed", stage="resolve")
    assert DEFAULT_FLOW.move(done, "identify") == "identify"  # back is always allowed
    with pytest.raises(UnknownStage):
        DEFAULT_FLOW.move(CASE, "nowhere")


def test_record_rules_match_channel_and_condition():
    rules = [
        RecordRule(channel="email", when="to == 'support@example.com'"),
        RecordRule(channel="sms"),
    ]
    assert rule_for(rules, "email", {"to": "support@example.com"}) is rules[0]
    assert rule_for(rules, "email", {"to": "sales@example.com"}) is None
    assert rule_for(rules, "sms", {}) is rules[1]
    assert rule_for(rules, "telegram", {}) is None


def test_titles_come_from_the_subject_or_the_first_line():
    assert title_from("Late parcel", "hello") == "Late parcel"
    assert title_from(None, "\n  my   printer\nis broken") == "my printer"
    assert title_from("  ", "") == "(no subject)"
    assert len(title_from("x" * 500, None)) == 200


def test_follow_up_reopens_within_the_window_else_opens_a_new_case():
    window = timedelta(days=7)
    assert on_customer_message("active", None, NOW, mode="reopen", window=window) is FollowUp.NONE
    recent = NOW - timedelta(days=1)
    assert (
        on_customer_message("resolved", recent, NOW, mode="reopen", window=window)
        is FollowUp.REOPEN
    )
    assert (
        on_customer_message("resolved", recent, NOW, mode="new_case", window=window)
        is FollowUp.NEW_CASE
    )
    old = NOW - timedelta(days=30)
    assert (
        on_customer_message("resolved", old, NOW, mode="reopen", window=window) is FollowUp.NEW_CASE
    )
    assert (
        on_customer_message("cancelled", None, NOW, mode="reopen", window=window)
        is FollowUp.NEW_CASE
    )


def alert(**kw: object) -> DeviceAlert:
    base = DeviceAlert(
        id="al_1",
        device_id="d1",
        alert_type="overheat",
        severity="critical",
        description="",
        customer_id=None,
        count=1,
        status="open",
        first_at=NOW,
        last_at=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_repeats_count_while_open_and_within_the_window():
    window = timedelta(hours=1)
    assert is_repeat(alert(), NOW + timedelta(minutes=59), window)
    assert not is_repeat(alert(), NOW + timedelta(hours=2), window)
    assert not is_repeat(alert(status="closed"), NOW, window)
    assert not is_repeat(None, NOW, window)


def test_alert_rules_turn_matching_alerts_into_cases_once():
    rules = [AlertRule(when="severity == 'critical' and count >= 2")]
    assert case_rule(rules, alert(count=1)) is None
    assert case_rule(rules, alert(count=2)) is rules[0]
    assert case_rule(rules, alert(count=2, case_id="cs_1")) is None


def test_bad_config_names_the_problem():
    with pytest.raises(ValidationError, match="column"):
        RecordRule(channel="email", when="subject ==")
    with pytest.raises(ValidationError):
        RecordRule(channel="fax")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown field"):
        CasesConfig(stages=[{"name": "identify", "required": ["shoe_size"]}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="repeat"):
        CasesConfig(stages=[{"name": "a"}, {"name": "a"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="duration"):
        CasesConfig(follow_up_window="soon")  # type: ignore[arg-type]
    assert CasesConfig(follow_up_window="4h").follow_up_window == timedelta(hours=4)  # type: ignore[arg-type]


def test_a_bad_config_file_is_refused_naming_file_and_key(tmp_path):
    from gateway.errors import ConfigError
    from gateway.settings import load_settings

    path = tmp_path / "bad.toml"
    path.write_text(
        '[[record_rules]]\nchannel = "email"\nwhen = "subject =="\n\n'
        '[cases]\nfollow_up_window = "soon"\nentitlement_exhausted = "shrug"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    for key in ("record_rules.0", "cases.follow_up_window", "cases.entitlement_exhausted"):
        assert f"{path}: key '{key}" in message, message
