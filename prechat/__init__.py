"""The pre-chat survey: fields a widget asks before a chat starts, and the
check of a visitor's answers against them.

``PrechatField``, ``WidgetConfig`` and ``WebchatConfig`` are the
``[webchat]`` config (a survey per widget);
``check_answers`` validates and cleans answers, raising ``PrechatError``
naming the field.
"""

from prechat.config import DEFAULT_WIDGET, FieldType, PrechatField, WebchatConfig, WidgetConfig
from prechat.survey import PrechatError, check_answers

__all__ = [
    "DEFAULT_WIDGET",
    "FieldType",
    "PrechatError",
    "PrechatField",
    "WebchatConfig",
    "WidgetConfig",
    "check_answers",
]
