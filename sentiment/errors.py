"""The sentiment package's one exception hierarchy.

Every error raised on purpose by `sentiment` derives from `SentimentError`, so
the gateway can catch one class at its edge and turn it into a stable `code`
plus a human `message`.
"""

from __future__ import annotations


class SentimentError(Exception):
    """Base class of every error the sentiment package raises on purpose."""

    code = "sentiment_error"


class UnknownBackendError(SentimentError):
    """A scorer backend name that the registry does not know."""

    code = "unknown_backend"


class ModelNotFoundError(SentimentError):
    """A configured model path that is missing or is not a model directory."""

    code = "model_not_found"


class ModelLoadError(SentimentError):
    """A model directory that exists but cannot be used (bad labels, missing deps)."""

    code = "model_load_failed"


class ScoringError(SentimentError):
    """A scorer failed while scoring a batch; the cause is chained."""

    code = "scoring_failed"


class WorkerClosedError(SentimentError):
    """A request to a sentiment worker that is not running."""

    code = "worker_closed"


class StateError(SentimentError):
    """A stored sentiment state (rolling value, alert state) that cannot be read back."""

    code = "bad_sentiment_state"
