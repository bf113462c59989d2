"""The ``[surveys]`` section of the config file, validated at start.

``SurveysConfig()`` with no arguments asks web chat customers one CSAT
question when their conversation closes. Queues may override which
questions are asked, and on which channels, or switch surveys off::

    [surveys]
    channels = ["webchat", "sms"]
    questions = ["csat", "nps"]

    [surveys.queues.billing]
    questions = ["nps"]

    [surveys.queues.vip]
    channels = []          # never survey this queue
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from durations import Duration

Question = Literal["csat", "nps"]
SurveyChannel = Literal["webchat", "sms", "email"]


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"each entry may appear once, got {values!r}")
    return values


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueSurveys(_Model):
    """A queue's own choice; what it leaves out comes from ``[surveys]``."""

    channels: list[SurveyChannel] | None = None
    questions: Annotated[list[Question], Field(min_length=1)] | None = None

    @field_validator("channels", "questions")
    @classmethod
    def _once(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else _unique(value)


class SurveysConfig(_Model):
    channels: list[SurveyChannel] = Field(default_factory=lambda: list[SurveyChannel](["webchat"]))
    """Channels whose closed conversations get a survey."""
    questions: Annotated[list[Question], Field(min_length=1)] = Field(
        default_factory=lambda: list[Question](["csat"])
    )
    """Asked in this order; over SMS only the first is asked (one digit)."""
    queues: dict[str, QueueSurveys] = Field(default_factory=dict)
    """Per-queue overrides, by queue name."""
    answer_window: Duration = Field(default=timedelta(days=2))
    """How long after the closing an answer is taken (an SMS digit, the email link)."""
    sms_text: Annotated[str, Field(min_length=1, max_length=600)] = (
        "Thanks for contacting us! How did we do? Reply with a digit from {low} (poor) "
        "to {high} (excellent)."
    )
    """The question texted after an SMS conversation closes; ``{low}`` and
    ``{high}`` are the answer's range."""
    email_subject: Annotated[str, Field(min_length=1, max_length=200)] = "How did we do?"

    @field_validator("channels", "questions")
    @classmethod
    def _once(cls, value: list[Any]) -> list[Any]:
        return _unique(value)

    @field_validator("sms_text")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            value.format(low=1, high=5)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{low}} and {{high}} may be used in braces ({exc})") from None
        return value
