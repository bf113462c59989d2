"""The pre-chat survey: fields a widget asks before a chat starts, and the
check of a visitor's answers against them.

``PrechatField`` and ``WebchatConfig`` are the ``[webchat]`` config;
``check_answers`` validates and cleans answers, raising ``PrechatError``
naming the field.
"""

from prechat.config import FieldType, PrechatField, WebchatConfig
from prechat.survey import PrechatError, check_answers

__all__ = ["FieldType", "PrechatError", "PrechatField", "WebchatConfig", "check_answers"]
