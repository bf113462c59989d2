"""The surveys package's errors: one hierarchy, messages that say what was wrong."""

from __future__ import annotations


class SurveyError(Exception):
    """Base of every survey error."""


class BadSurvey(SurveyError):
    """A survey answer that is refused: out of range, twice, not the caller's,
    or for a conversation that was not asked. ``reason`` is a stable word
    (``out_of_range``, ``already_answered``, ``not_yours``, ``not_asked``,
    ``empty``, ``bad_comment``, ``expired``) for logs and tests."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class IllegalSurveyTransition(SurveyError):
    def __init__(self, current: str, event: str) -> None:
        super().__init__(f"a survey that is {current!r} cannot take {event!r}")
        self.current = current
        self.event = event
