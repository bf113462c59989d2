"""Choosing a script, marking steps, and the view the console shows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conversations.models import rfc3339
from guidance import (
    MacroConfig,
    ScriptConfig,
    StepError,
    StepProgress,
    check_mark,
    choose_script,
    conversation_facts,
    fingerprint,
    script_view,
    step_of,
)

GREET = MacroConfig.model_validate(
    {"name": "greet", "title": "Greet", "actions": [{"kind": "send", "text": "Hi"}]}
)
BILLING = ScriptConfig.model_validate(
    {
        "name": "billing",
        "when": "queue == 'billing' and context.tier == 'gold'",
        "steps": [
            {"kind": "text", "text": "Thank them."},
            {"kind": "macro", "macro": "greet"},
            {"kind": "check", "text": "Identity verified"},
        ],
    }
)
CARDS = ScriptConfig.model_validate(
    {"name": "cards", "when": "intent == 'card_arrival'", "steps": [{"kind": "check", "text": "x"}]}
)
FALLBACK = ScriptConfig.model_validate(
    {"name": "general", "steps": [{"kind": "text", "text": "Be kind."}]}
)
SCRIPTS = [BILLING, CARDS, FALLBACK]


def facts(queue: str = "default", **context: object) -> dict[str, object]:
    return conversation_facts(
        queue=queue,
        channel="webchat",
        language="en",
        context=context,
        prechat={},
        customer={"name": "Vera"},
    )


def test_the_first_matching_script_is_chosen_and_a_script_without_when_is_the_fallback() -> None:
    assert choose_script(SCRIPTS, facts("billing", tier="gold")) is BILLING
    assert choose_script(SCRIPTS, facts("billing", tier="silver")) is FALLBACK
    assert choose_script(SCRIPTS, facts(intent="card_arrival")) is CARDS
    assert (
        choose_script(SCRIPTS, facts(intent={"name": "card_arrival", "confidence": 0.9})) is CARDS
    )
    assert choose_script([BILLING, CARDS], facts()) is None


def test_steps_are_found_by_index() -> None:
    assert step_of(BILLING, 2).kind == "check"
    with pytest.raises(StepError) as caught:
        step_of(BILLING, 3)
    assert caught.value.code == "no_such_step"
    with pytest.raises(StepError):
        step_of(BILLING, -1)


def test_a_macro_step_runs_once_and_cannot_be_undone() -> None:
    macro_step, check_step = BILLING.steps[1], BILLING.steps[2]
    done = StepProgress(1, fingerprint(macro_step), True, "u_1", "Alice", None)
    check_mark(macro_step, True, None)
    with pytest.raises(StepError, match="already been run"):
        check_mark(macro_step, True, done)
    with pytest.raises(StepError, match="cannot be undone"):
        check_mark(macro_step, False, None)
    check_mark(check_step, False, done)  # checks tick and untick freely
    check_mark(check_step, True, done)


def test_the_view_shows_progress_only_where_the_step_is_unchanged() -> None:
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    progress = {
        1: StepProgress(1, fingerprint(BILLING.steps[1]), True, "u_1", "Alice", at, {"ok": 1}),
        # Stored for a step that said something else before the config changed.
        2: StepProgress(2, "0000000000000000", True, "u_1", "Alice", at),
    }
    view = script_view(BILLING, progress, {"greet": GREET}, rfc3339)
    assert view["name"] == "billing" and view["total"] == 3 and view["done"] == 1
    text, macro, check = view["steps"]
    assert text == {
        "index": 0,
        "kind": "text",
        "text": "Thank them.",
        "done": False,
        "done_by": None,
        "done_at": None,
    }
    assert macro["done"] and macro["done_by"] == "Alice"
    assert macro["done_at"] == "2026-11-29T12:00:00.000Z"
    assert macro["macro"] == {"name": "greet", "title": "Greet", "actions": ["send"]}
    assert macro["text"] == "Greet" and macro["result"] == {"ok": 1}
    assert check["done"] is False


def test_fingerprints_follow_content() -> None:
    a, b = BILLING.steps[0], FALLBACK.steps[0]
    assert fingerprint(a) == fingerprint(BILLING.steps[0])
    assert fingerprint(a) != fingerprint(b)
    assert len(fingerprint(a)) == 16
