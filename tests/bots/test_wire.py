"""Bot wire formats: signatures, webhook and Rasa answers, hand-off bodies."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from bots import BadAnswer, Skill, parse_rasa_answer, parse_webhook_answer, sign, verify
from bots.wire import parse_handoff, rasa_payload, webhook_payload


def test_signature_is_hmac_sha256_of_the_exact_body():
    body = webhook_payload("c_1", {"text": "héllo"}, {"name": "Rita"}, {"order": 7})
    expected = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    assert sign("topsecret", body) == f"sha256={expected}"
    assert verify("topsecret", body, sign("topsecret", body))
    assert not verify("other", body, sign("topsecret", body))
    assert not verify("topsecret", body + b" ", sign("topsecret", body))
    assert not verify("topsecret", body, None)
    assert json.loads(body) == {
        "conversation_id": "c_1",
        "message": {"text": "héllo"},
        "customer": {"name": "Rita"},
        "context": {"order": 7},
    }


def test_rasa_payload_is_sender_and_message():
    assert json.loads(rasa_payload("c_9", "hi")) == {"sender": "c_9", "message": "hi"}


def test_webhook_answers():
    reply = parse_webhook_answer(b'{"messages": [{"text": "a"}, {"text": "b"}]}')
    assert (reply.texts, reply.handoff, reply.close) == (("a", "b"), None, False)
    assert parse_webhook_answer(b"").texts == ()
    assert parse_webhook_answer(b"{}").texts == ()
    reply = parse_webhook_answer(
        b'{"messages": [], "handoff": {"queue": "billing", "skills": ["x", {"name": "y",'
        b' "level": 3}], "summary": "s", "context": {"k": 1}}}'
    )
    assert reply.handoff is not None
    assert reply.handoff.queue == "billing"
    assert reply.handoff.skills == (Skill("x", 1), Skill("y", 3))
    assert dict(reply.handoff.context) == {"k": 1}
    assert parse_webhook_answer(b'{"close": true}').close
    # Lenient inside answers: a bare true, or keys it does not know.
    assert parse_webhook_answer(b'{"handoff": true}').handoff is not None
    assert parse_webhook_answer(b'{"handoff": null}').handoff is None
    lenient = parse_webhook_answer(b'{"handoff": {"queue": "q", "why": "x"}}').handoff
    assert lenient is not None and lenient.queue == "q"
    assert parse_webhook_answer(b'{"messages": []}').handoff is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"messages": [{"text": ""}]}', "messages.0.text"),
        (b'{"messages": "hi"}', "messages"),
        (b'{"handoff": {"skills": [{"name": "x", "level": 9}]}}', "level"),
        (b'{"handoff": {"queue": 7}}', "queue"),
        (b'{"handoff": "now"}', "hand-off"),
    ],
)
def test_bad_webhook_answers_say_what_came(body: bytes, message: str):
    with pytest.raises(BadAnswer, match=message):
        parse_webhook_answer(body)


def test_rasa_answers_with_texts_and_a_custom_handoff():
    reply = parse_rasa_answer(
        json.dumps(
            [
                {"recipient_id": "c", "text": "one"},
                {"recipient_id": "c", "image": "http://x/y.png"},
                {"recipient_id": "c", "text": "two", "buttons": []},
                {"recipient_id": "c", "custom": {"handoff": {"summary": "s", "queue": "q"}}},
            ]
        ).encode()
    )
    assert reply.texts == ("one", "two")
    assert reply.handoff is not None and reply.handoff.summary == "s"
    assert parse_rasa_answer(b"[]").texts == ()
    assert parse_rasa_answer(b'[{"recipient_id": "c", "custom": {"handoff": {}}}]').handoff
    assert parse_rasa_answer(b'[{"custom": {"handoff": true}}]').handoff
    assert parse_rasa_answer(b'[{"custom": {"handoff": null}}]').handoff is None
    assert parse_rasa_answer(b'[{"custom": {"close": true}}]').close


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not valid JSON"),
        (b'{"text": "hi"}', "expected a JSON list"),
        (b'["hi"]', r"\[0\]: expected an object"),
        (b'[{"text": 5}]', r"\[0\].text"),
        (b'[{"custom": {"handoff": {"priority": "high"}}}]', "priority"),
    ],
)
def test_bad_rasa_answers_say_what_came(body: bytes, message: str):
    with pytest.raises(BadAnswer, match=message):
        parse_rasa_answer(body)


def test_handoff_bodies_are_checked():
    assert parse_handoff({}).queue is None
    with pytest.raises(BadAnswer, match="summary"):
        parse_handoff({"summary": ["no"]})
