import pytest
from pydantic import ValidationError

from sentiment.alerts import (
    ActionKind,
    AlertAction,
    AlertKind,
    AlertRules,
    AlertState,
    BelowRule,
    DropRule,
    evaluate_alerts,
)
from sentiment.errors import StateError
from sentiment.rolling import RollingSentiment


def run(rules: AlertRules, scores: list[float], alpha: float = 1.0) -> list[list[AlertKind]]:
    """Feed customer scores one by one; return the kinds of alert fired after each."""
    rolling, state, fired = RollingSentiment(), AlertState(), []
    for score in scores:
        rolling = rolling.update(score, alpha=alpha)
        alerts, state = evaluate_alerts(rules, rolling, state)
        fired.append([alert.kind for alert in alerts])
    return fired


BELOW_ONLY = AlertRules(below=BelowRule(threshold=-0.5, recover_margin=0.1), drop=None)
DROP_ONLY = AlertRules(below=None, drop=DropRule(amount=0.5, within=3, recover_margin=0.1))


def test_below_fires_once_while_the_conversation_stays_sour() -> None:
    fired = run(BELOW_ONLY, [0.0, -0.6, -0.7, -0.9, -0.55])
    assert fired == [[], [AlertKind.BELOW], [], [], []]


def test_below_fires_again_only_after_recovering_past_the_margin() -> None:
    # -0.45 is above the threshold but inside the margin: not recovered.
    fired = run(BELOW_ONLY, [-0.6, -0.45, -0.6, -0.3, -0.6])
    assert fired == [[AlertKind.BELOW], [], [], [], [AlertKind.BELOW]]


def test_below_waits_for_min_messages() -> None:
    rules = AlertRules(below=BelowRule(threshold=-0.5, min_messages=2), drop=None)
    assert run(rules, [-0.9, -0.9]) == [[], [AlertKind.BELOW]]


def test_drop_fires_on_a_fall_within_the_window() -> None:
    fired = run(DROP_ONLY, [0.6, 0.5, 0.0])
    assert fired == [[], [], [AlertKind.DROP]]


def test_a_slow_decline_beyond_the_window_is_not_a_drop() -> None:
    assert run(DROP_ONLY, [0.6, 0.45, 0.3, 0.15, 0.0, -0.15]) == [[]] * 6


def test_drop_is_deduplicated_until_the_fall_leaves_the_window() -> None:
    fired = run(DROP_ONLY, [0.8, 0.2, 0.1, 0.1, 0.1, 0.1, -0.5])
    assert fired == [[], [AlertKind.DROP], [], [], [], [], [AlertKind.DROP]]


def test_both_rules_can_fire_on_one_message_with_their_actions() -> None:
    rules = AlertRules(
        below=BelowRule(threshold=-0.3, action=ActionKind.RAISE_PRIORITY, by=2),
        drop=DropRule(amount=0.5, within=2, action=ActionKind.ESCALATE, queue="supervisors"),
    )
    rolling = RollingSentiment().update(0.5, alpha=1.0).update(-0.6, alpha=1.0)
    alerts, state = evaluate_alerts(rules, rolling, AlertState())
    assert {a.kind: a.action for a in alerts} == {
        AlertKind.BELOW: AlertAction(ActionKind.RAISE_PRIORITY, by=2),
        AlertKind.DROP: AlertAction(ActionKind.ESCALATE, queue="supervisors"),
    }
    assert state.active == {AlertKind.BELOW, AlertKind.DROP}
    assert "below -0.30" in alerts[0].message
    assert "dropped by 1.10 within 2 messages" in alerts[1].message


def test_no_alert_before_the_first_customer_message() -> None:
    alerts, state = evaluate_alerts(AlertRules(), RollingSentiment(), AlertState())
    assert alerts == [] and state == AlertState()


def test_a_disabled_rule_forgets_its_active_alert() -> None:
    rolling = RollingSentiment().update(-0.9)
    _, state = evaluate_alerts(BELOW_ONLY, rolling, AlertState())
    assert AlertKind.BELOW in state.active
    _, state = evaluate_alerts(AlertRules(below=None, drop=None), rolling, state)
    assert state.active == frozenset()


def test_escalation_needs_a_queue() -> None:
    with pytest.raises(ValidationError, match="needs a queue"):
        DropRule(action=ActionKind.ESCALATE)


def test_unknown_action_is_rejected() -> None:
    with pytest.raises(ValidationError, match="action"):
        BelowRule(action="page_everyone")  # type: ignore[arg-type]


def test_alert_and_state_serialise_for_the_wire_and_the_store() -> None:
    rules = AlertRules(below=BelowRule(action=ActionKind.RAISE_PRIORITY, by=3), drop=None)
    alerts, state = evaluate_alerts(rules, RollingSentiment().update(-0.75), AlertState())
    assert alerts[0].to_dict() == {
        "kind": "sentiment_below",
        "message": "customer sentiment is -0.75, below -0.50",
        "action": {"kind": "raise_priority", "by": 3, "queue": None},
        "rolling": -0.75,
    }
    assert AlertState.from_dict(state.to_dict()) == state
    assert AlertState.from_dict(None) == AlertState()
    with pytest.raises(StateError):
        AlertState.from_dict({"active": ["sentiment_sideways"]})
