"""Pre-chat answers checked against the configured fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from prechat import PrechatError, PrechatField, WebchatConfig, check_answers

FIELDS = WebchatConfig.model_validate(
    {
        "prechat": [
            {"name": "topic", "type": "choice", "choices": ["billing", "cards"], "required": True},
            {"name": "email", "type": "email", "label": "Your email"},
            {"name": "order", "type": "text", "max_length": 10},
            {"name": "age", "type": "number"},
            {"name": "customer", "type": "boolean", "required": True},
        ]
    }
).prechat


def test_good_answers_are_cleaned():
    answers = {"topic": "cards", "email": " kim@example.com ", "age": 31, "customer": False}
    assert check_answers(FIELDS, answers) == {
        "topic": "cards",
        "email": "kim@example.com",
        "age": 31,
        "customer": False,
    }


def test_unanswered_optional_fields_are_left_out():
    got = check_answers(FIELDS, {"topic": "billing", "customer": True, "order": "  ", "age": None})
    assert got == {"topic": "billing", "customer": True}


@pytest.mark.parametrize(
    ("answers", "field", "missing", "message"),
    [
        ({"customer": True}, "topic", True, "required"),
        ({"topic": "  ", "customer": True}, "topic", True, "required"),
        ({"topic": "cards"}, "customer", True, "required"),
        ({"topic": "loans", "customer": True}, "topic", False, "not one of"),
        ({"topic": 3, "customer": True}, "topic", False, "expected text, got int"),
        ({"topic": "cards", "customer": "yes"}, "customer", False, "expected true or false"),
        ({"topic": "cards", "customer": True, "age": "31"}, "age", False, "expected a number"),
        ({"topic": "cards", "customer": True, "age": True}, "age", False, "expected a number"),
        ({"topic": "cards", "customer": True, "email": "kim@"}, "email", False, "not an email"),
        ({"topic": "cards", "customer": True, "order": "x" * 11}, "order", False, "longer"),
        ({"topic": "cards", "customer": True, "colour": "red"}, "colour", False, "not a pre-chat"),
    ],
)
def test_bad_answers_name_the_field(
    answers: dict[str, Any], field: str, missing: bool, message: str
):
    with pytest.raises(PrechatError, match=message) as caught:
        check_answers(FIELDS, answers)
    assert caught.value.field == field
    assert caught.value.missing is missing
    assert str(caught.value).startswith(f"prechat.{field}: ")


def test_without_a_survey_any_answers_pass():
    assert check_answers([], {"anything": [1, 2]}) == {"anything": [1, 2]}


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "topic", "type": "choice"}, "needs choices"),
        ({"name": "topic", "choices": ["a"]}, "only for type 'choice'"),
        ({"name": "topic", "type": "choice", "choices": ["a", "a"]}, "listed twice"),
        ({"name": "my topic"}, "pattern"),
        ({"name": "topic", "type": "date"}, "text"),
        ({"name": "topic", "colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_fields_are_refused_at_config_load(field: dict[str, Any], message: str):
    with pytest.raises(ValidationError, match=message):
        PrechatField.model_validate(field)


def test_field_names_are_unique():
    with pytest.raises(ValidationError, match="defined twice"):
        WebchatConfig.model_validate({"prechat": [{"name": "a"}, {"name": "a"}]})
