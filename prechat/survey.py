"""Check a visitor's pre-chat answers against the configured fields.

Rules: a required field must be answered (absent, null and blank text are
not answers); an answer must have its field's type (JSON strings for text,
email and choice, numbers for number, true/false for boolean: the widget
converts form values, so a string "3" for a number is a client bug worth a
clear 400); a choice must be one of the choices; no answer may name a field
that is not configured. With no fields configured, any answers pass as they
are (the survey is off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from email_validator import EmailNotValidError, validate_email

from prechat.config import PrechatField


class PrechatError(ValueError):
    """An answer does not fit its field; ``field`` names it."""

    def __init__(self, field: str, message: str, *, missing: bool = False) -> None:
        super().__init__(f"prechat.{field}: {message}")
        self.field = field
        self.message = message
        self.missing = missing
        """A required field was not answered (rather than answered wrongly)."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check(field: PrechatField, value: Any) -> Any:
    kind = field.type
    if kind in ("text", "email", "choice"):
        if not isinstance(value, str):
            raise PrechatError(field.name, f"expected text, got {type(value).__name__}")
        text = value.strip()
        if kind == "choice":
            if text not in field.choices:
                raise PrechatError(field.name, f"{text!r} is not one of {field.choices}")
            return text
        if len(text) > field.max_length:
            raise PrechatError(field.name, f"longer than {field.max_length} characters")
        if kind == "email":
            try:
                validate_email(text, check_deliverability=False)
            except EmailNotValidError as exc:
                raise PrechatError(field.name, f"not an email address ({exc})") from None
        return text
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PrechatError(field.name, f"expected a number, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise PrechatError(field.name, "expected a finite number")
        return value
    if not isinstance(value, bool):
        raise PrechatError(field.name, f"expected true or false, got {type(value).__name__}")
    return value


def check_answers(fields: Sequence[PrechatField], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned answers (text stripped, unanswered optional fields left
    out); raises ``PrechatError`` for the first field in config order that is
    wrong, then for an answer to an unknown field."""
    if not fields:
        return dict(answers)
    cleaned: dict[str, Any] = {}
    for field in fields:
        value = answers.get(field.name)
        if _blank(value):
            if field.required:
                raise PrechatError(field.name, "this field is required", missing=True)
            continue
        cleaned[field.name] = _check(field, value)
    unknown = sorted(set(answers) - {f.name for f in fields})
    if unknown:
        raise PrechatError(unknown[0], f"not a pre-chat field (fields: {[f.name for f in fields]})")
    return cleaned
