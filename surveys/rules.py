"""Which questions a closed conversation is asked, and which answers count.

Everything that decides about a survey lives here, with no I/O and no clock:
the shells pass ``now`` in. A survey moves through a small transition table
(asked → answered, asked → expired); an answer that breaks a rule raises
``BadSurvey`` naming the rule, and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from surveys.config import Question, SurveysConfig
from surveys.errors import BadSurvey, IllegalSurveyTransition

RANGES: Mapping[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}
"""Inclusive answer range of each question."""
MAX_COMMENT = 2000


class SurveyStatus(StrEnum):
    ASKED = "asked"
    ANSWERED = "answered"
    EXPIRED = "expired"


_S = SurveyStatus

TRANSITIONS: Mapping[SurveyStatus, Mapping[str, SurveyStatus]] = {
    _S.ASKED: {"answer": _S.ANSWERED, "expire": _S.EXPIRED},
    _S.ANSWERED: {},
    _S.EXPIRED: {},
}


def transition(current: str, event: str) -> SurveyStatus:
    """The status after ``event``, or raise if the table forbids it."""
    try:
        return TRANSITIONS[SurveyStatus(current)][event]
    except (ValueError, KeyError):
        raise IllegalSurveyTransition(current, event) from None


def questions_for(config: SurveysConfig, channel: str, queue: str) -> tuple[Question, ...]:
    """The questions a conversation closing on ``channel`` in ``queue`` is
    asked; empty when it gets no survey."""
    override = config.queues.get(queue)
    channels: Sequence[str] = config.channels
    questions: Sequence[Question] = config.questions
    if override is not None:
        if override.channels is not None:
            channels = override.channels
        if override.questions is not None:
            questions = override.questions
    return tuple(questions) if channel in channels else ()


@dataclass(frozen=True, slots=True)
class Survey:
    """What the rules need to know of one survey."""

    conversation_id: str
    customer_id: str
    questions: tuple[str, ...]
    status: str
    asked_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    csat: int | None = None
    nps: int | None = None
    comment: str | None = None

    def scores(self) -> dict[str, int]:
        return {k: v for k, v in (("csat", self.csat), ("nps", self.nps)) if v is not None}


def check_answer(
    survey: Survey | None,
    *,
    customer_id: str,
    csat: object = None,
    nps: object = None,
    comment: object = None,
    now: datetime,
) -> Answer:
    """Validate an answer from ``customer_id`` to ``survey`` at ``now``.

    Raises:
        BadSurvey: no survey was asked, it is someone else's, it was already
            answered or has expired, no score is given, a score is not a
            whole number or out of range, or the comment is too long.
    """
    if survey is None:
        raise BadSurvey("not_asked", "no survey was asked for this conversation")
    if survey.customer_id != customer_id:
        raise BadSurvey("not_yours", "this survey belongs to another customer")
    if survey.status == SurveyStatus.ANSWERED:
        raise BadSurvey("already_answered", "this survey was already answered")
    if survey.status == SurveyStatus.EXPIRED or now >= survey.expires_at:
        raise BadSurvey("expired", "this survey is closed for answers")
    transition(survey.status, "answer")
    given = {k: v for k, v in (("csat", csat), ("nps", nps)) if v is not None}
    if not given:
        raise BadSurvey("empty", f"answer at least one of: {', '.join(survey.questions)}")
    scores: dict[str, int] = {}
    # A score for a question this survey did not show is still a valid
    # score of the conversation (the protocol lets a client send both), so
    # only its range is checked.
    for question, value in given.items():
        low, high = RANGES[question]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadSurvey("out_of_range", f"{question} must be a whole number {low}-{high}")
        if not low <= value <= high:
            raise BadSurvey(
                "out_of_range", f"{question} must be between {low} and {high}, got {value}"
            )
        scores[question] = value
    if comment is not None and not isinstance(comment, str):
        raise BadSurvey("bad_comment", "comment must be text")
    text = comment.strip() if isinstance(comment, str) else None
    if text is not None and len(text) > MAX_COMMENT:
        raise BadSurvey("bad_comment", f"comment is over {MAX_COMMENT} characters")
    return Answer(scores.get("csat"), scores.get("nps"), text or None)


def sms_question(questions: Sequence[str]) -> str | None:
    """The one question a text asks (a digit answers one): CSAT if asked."""
    if "csat" in questions:
        return "csat"
    return questions[0] if questions else None


def sms_prompt(config: SurveysConfig, questions: Sequence[str]) -> str | None:
    question = sms_question(questions)
    if question is None:
        return None
    low, high = RANGES[question]
    return config.sms_text.format(low=low, high=high)


def parse_sms_answer(text: str, questions: Sequence[str]) -> Answer | None:
    """An SMS reply that is only a number in the asked question's range, as
    an answer; None for anything else (it is then an ordinary message)."""
    question = sms_question(questions)
    stripped = text.strip()
    if question is None or not stripped.isascii() or not stripped.isdigit() or len(stripped) > 2:
        return None
    value = int(stripped)
    low, high = RANGES[question]
    if not low <= value <= high:
        return None
    return Answer(csat=value) if question == "csat" else Answer(nps=value)


def expires_at(config: SurveysConfig, asked_at: datetime) -> datetime:
    window: timedelta = config.answer_window
    return asked_at + window
