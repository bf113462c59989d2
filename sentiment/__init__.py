"""Message and conversation sentiment for Switchboard.

Scorers turn a message's text into a `Sentiment` (score in [-1, 1] and a
label); `SentimentWorker` runs them off the event loop with micro-batching;
`ConversationSentiment` keeps the rolling customer score and its trend, and
`evaluate_alerts` turns that into supervisor alerts under `SentimentConfig`.
"""

from __future__ import annotations

from sentiment.alerts import Alert, AlertAction, AlertRules, AlertState, evaluate_alerts
from sentiment.config import SentimentConfig
from sentiment.errors import (
    ModelLoadError,
    ModelNotFoundError,
    ScoringError,
    SentimentError,
    UnknownBackendError,
    WorkerClosedError,
)
from sentiment.registry import BACKENDS, get_scorer
from sentiment.rolling import ConversationSentiment, RollingSentiment
from sentiment.scorer import Label, Scorer, Sentiment, label_for
from sentiment.worker import SentimentWorker

__all__ = [
    "BACKENDS",
    "Alert",
    "AlertAction",
    "AlertRules",
    "AlertState",
    "ConversationSentiment",
    "Label",
    "ModelLoadError",
    "ModelNotFoundError",
    "RollingSentiment",
    "Scorer",
    "ScoringError",
    "Sentiment",
    "SentimentConfig",
    "SentimentError",
    "SentimentWorker",
    "UnknownBackendError",
    "WorkerClosedError",
    "evaluate_alerts",
    "get_scorer",
    "label_for",
]
