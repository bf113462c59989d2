"""Customer satisfaction surveys (CSAT 1-5, NPS 0-10) asked when a conversation closes.

The rules (which questions, ranges, once only) are pure (``surveys.rules``);
the store keeps one row per conversation asked; the gateway's
``surveys_runtime`` asks over web chat, SMS and email and takes the answers.
"""

from surveys.config import SurveysConfig
from surveys.errors import BadSurvey, SurveyError
from surveys.rules import RANGES, Answer, SurveyStatus, check_answer, questions_for

__all__ = [
    "RANGES",
    "Answer",
    "BadSurvey",
    "SurveyError",
    "SurveyStatus",
    "SurveysConfig",
    "check_answer",
    "questions_for",
]
