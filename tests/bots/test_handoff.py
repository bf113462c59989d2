"""Hand-off decisions: reasons, queues, what the person's offer shows."""

from __future__ import annotations

import pytest

from bots import DEFAULT_HANDOFF_PHRASES, HandoffRequest, Reason, Skill, asks_for_person, decide
from bots import failure as failed
from bots.handoff import (
    IllegalSessionTransition,
    SessionState,
    check_session_transition,
)

QUEUES = frozenset({"default", "billing"})


def test_a_bot_handoff_keeps_its_queue_skills_summary_and_context():
    request = HandoffRequest(
        queue="billing",
        skills=(Skill("billing", 2),),
        priority=3,
        summary="refund",
        context={"order": "A-1"},
    )
    handoff, error = decide("helper", Reason.BOT, request, "default", QUEUES)
    assert error is None
    assert (handoff.queue, handoff.priority, handoff.skills) == (
        "billing",
        3,
        (Skill("billing", 2),),
    )
    assert handoff.offer_context() == {
        "from": "helper",
        "reason": "bot",
        "summary": "refund",
        "context": {"order": "A-1"},
    }
    assert handoff.to_record()["skills"] == [{"name": "billing", "level": 2}]


def test_without_a_queue_the_conversation_stays_in_its_own():
    handoff, error = decide("helper", Reason.BOT, HandoffRequest(), "billing", QUEUES)
    assert (handoff.queue, error) == ("billing", None)
    assert handoff.offer_context()["context"] == {}


def test_an_unknown_queue_is_an_error_but_still_reaches_people_in_the_current_queue():
    request = HandoffRequest(queue="nowhere", summary="keep me")
    handoff, error = decide("helper", Reason.BOT, request, "default", QUEUES)
    assert error is not None and "nowhere" in error and "billing" in error
    assert (handoff.queue, handoff.reason, handoff.summary) == ("default", Reason.ERROR, "keep me")


def test_automatic_handoffs_explain_themselves_in_the_summary():
    reason, summary = failed("timeout", "no answer within 10s")
    handoff, _ = decide("helper", reason, None, "default", QUEUES, detail=summary)
    assert handoff.reason is Reason.TIMEOUT
    assert handoff.summary == "The bot did not answer in time (no answer within 10s)."
    for kind in ("status", "connection", "invalid", "gone"):
        assert failed(kind, "x")[0] is Reason.ERROR
    with pytest.raises(ValueError, match="unknown failure kind"):
        failed("bored", "x")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I want a human", "en"),
        ("Can I talk to a person?", None),
        ("AGENT!!", "en-GB"),
        ("Ich möchte mit einem Menschen sprechen", "de"),
        ("je veux un humain", "fr"),
        ("je veux parler à un opérateur", "fr"),
        ("je veux parler a un operateur", "fr"),  # accents optional
        ("vorrei un operatore", "it"),
        ("quiero hablar con una persona", "es"),
        ("I want a human", "it"),  # English phrases work in any language
    ],
)
def test_asking_for_a_person_in_several_languages(text: str, language: str | None):
    assert asks_for_person(text, language, DEFAULT_HANDOFF_PHRASES) is not None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("my agentic workflow is broken", "en"),  # whole words only
        ("humane treatment of parcels", "en"),
        ("where is my parcel", None),
        ("persona non grata", "en"),  # Spanish/Italian words do not count in English
    ],
)
def test_ordinary_messages_do_not_hand_off(text: str, language: str | None):
    assert asks_for_person(text, language, DEFAULT_HANDOFF_PHRASES) is None


def test_configured_phrases_are_used():
    phrases = {"en": ("wizard",)}
    assert asks_for_person("get me the Wizard", "en", phrases) == "wizard"
    assert asks_for_person("I want a human", "en", phrases) is None


def test_a_session_ends_once_and_never_goes_back_to_a_bot():
    held = SessionState.HELD
    assert check_session_transition(held, SessionState.HANDED_OFF) is SessionState.HANDED_OFF
    assert check_session_transition(held, SessionState.CLOSED) is SessionState.CLOSED
    for end in (SessionState.HANDED_OFF, SessionState.CLOSED):
        for target in SessionState:
            with pytest.raises(IllegalSessionTransition, match=end.value):
                check_session_transition(end, target)
