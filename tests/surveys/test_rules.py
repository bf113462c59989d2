"""The pure survey rules: which questions, which answers, once only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.config import SurveysConfig
from surveys.errors import BadSurvey, IllegalSurveyTransition
from surveys.rules import (
    Answer,
    Survey,
    SurveyStatus,
    check_answer,
    parse_sms_answer,
    questions_for,
    sms_prompt,
    transition,
)

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def survey(
    questions: tuple[str, ...] = ("csat", "nps"), status: str = "asked", customer: str = "cu_1"
) -> Survey:
    return Survey("c_1", customer, questions, status, NOW, NOW + timedelta(days=2))


def test_defaults_survey_web_chat_with_csat_only():
    config = SurveysConfig()
    assert questions_for(config, "webchat", "default") == ("csat",)
    assert questions_for(config, "sms", "default") == ()
    assert questions_for(config, "email", "default") == ()


def test_a_queue_overrides_channels_and_questions():
    config = SurveysConfig.model_validate(
        {
            "channels": ["webchat", "sms"],
            "questions": ["csat", "nps"],
            "queues": {"billing": {"questions": ["nps"]}, "vip": {"channels": []}},
        }
    )
    assert questions_for(config, "sms", "default") == ("csat", "nps")
    assert questions_for(config, "sms", "billing") == ("nps",)
    assert questions_for(config, "webchat", "vip") == ()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"channels": ["fax"]}, "channels"),
        ({"questions": ["ces"]}, "questions"),
        ({"questions": []}, "questions"),
        ({"questions": ["csat", "csat"]}, "questions"),
        ({"answer_window": "soon"}, "answer_window"),
        ({"answer_window": "0m"}, "answer_window"),
        ({"sms_text": "rate us {stars}"}, "sms_text"),
        ({"queues": {"x": {"questions": ["nps"], "colour": "red"}}}, "colour"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_config_is_refused_naming_the_key(data: dict[str, object], key: str):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        SurveysConfig.model_validate(data)
    assert key in str(caught.value)


def test_an_answer_in_range_is_taken():
    answer = check_answer(survey(), customer_id="cu_1", csat=5, nps=0, comment="  great  ", now=NOW)
    assert answer == Answer(csat=5, nps=0, comment="great")
    only_nps = check_answer(survey(), customer_id="cu_1", nps=10, now=NOW)
    assert only_nps.scores() == {"nps": 10}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"csat": 0}, "out_of_range"),
        ({"csat": 6}, "out_of_range"),
        ({"nps": -1}, "out_of_range"),
        ({"nps": 11}, "out_of_range"),
        ({"csat": "5"}, "out_of_range"),
        ({"csat": 4.0}, "out_of_range"),
        ({"csat": True}, "out_of_range"),
        ({}, "empty"),
        ({"csat": 3, "comment": 7}, "bad_comment"),
        ({"csat": 3, "comment": "x" * 2001}, "bad_comment"),
    ],
)
def test_bad_answers_are_refused(fields: dict[str, object], reason: str):
    with pytest.raises(BadSurvey) as caught:
        check_answer(survey(), customer_id="cu_1", now=NOW, **fields)  # type: ignore[arg-type]
    assert caught.value.reason == reason


def test_a_score_for_a_question_not_shown_is_kept_if_in_range():
    answer = check_answer(survey(("csat",)), customer_id="cu_1", csat=4, nps=9, now=NOW)
    assert answer.scores() == {"csat": 4, "nps": 9}
    with pytest.raises(BadSurvey) as caught:
        check_answer(survey(("csat",)), customer_id="cu_1", nps=11, now=NOW)
    assert caught.value.reason == "out_of_range"


def test_twice_someone_elses_not_asked_or_late_is_refused():
    cases = [
        (survey(status="answered"), "cu_1", NOW, "already_answered"),
        (survey(), "cu_2", NOW, "not_yours"),
        (None, "cu_1", NOW, "not_asked"),
        (survey(), "cu_1", NOW + timedelta(days=2), "expired"),
        (survey(status="expired"), "cu_1", NOW, "expired"),
    ]
    for target, customer, now, reason in cases:
        with pytest.raises(BadSurvey) as caught:
            check_answer(target, customer_id=customer, csat=4, now=now)
        assert caught.value.reason == reason


def test_the_status_table():
    assert transition("asked", "answer") is SurveyStatus.ANSWERED
    assert transition("asked", "expire") is SurveyStatus.EXPIRED
    for current, event in (("answered", "answer"), ("expired", "answer"), ("nope", "answer")):
        with pytest.raises(IllegalSurveyTransition):
            transition(current, event)


def test_sms_asks_one_question_and_takes_only_a_number_in_its_range():
    config = SurveysConfig()
    assert sms_prompt(config, ("nps", "csat")) is not None
    assert "from 1 (poor) to 5 (excellent)" in (sms_prompt(config, ("csat", "nps")) or "")
    assert "from 0 (poor) to 10 (excellent)" in (sms_prompt(config, ("nps",)) or "")
    assert parse_sms_answer(" 4\n", ("csat", "nps")) == Answer(csat=4)
    assert parse_sms_answer("10", ("nps",)) == Answer(nps=10)
    assert parse_sms_answer("0", ("nps",)) == Answer(nps=0)
    for text in ("6", "0", "4 stars", "four", "", "٣", "-1", "4.0", "05 5"):
        assert parse_sms_answer(text, ("csat",)) is None, text
    assert parse_sms_answer("11", ("nps",)) is None


@given(st.text(max_size=6))
def test_any_sms_answer_is_in_range(text: str):
    answer = parse_sms_answer(text, ("csat",))
    assert answer is None or (answer.csat is not None and 1 <= answer.csat <= 5)
