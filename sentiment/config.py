"""The `[sentiment]` section of the Switchboard TOML config, validated at start.

```toml
[sentiment]
enabled = true
backend = "lexicon"            # or "transformers" (needs `model`)
# model = "/srv/models/sentiment"
worker = "auto"                # auto | process | thread
alpha = 0.3                    # EWMA weight of the newest customer message

[sentiment.alerts.below]
threshold = -0.5
action = "raise_priority"
by = 1

[sentiment.alerts.drop]
amount = 0.5
within = 3
action = "escalate"
queue = "supervisors"
```

Whether a model directory exists is checked when the worker starts (it is
the filesystem, not the config); everything else is checked here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentiment.alerts import AlertRules
from sentiment.registry import BACKENDS, MODEL_BACKENDS
from sentiment.scorer import DEFAULT_NEUTRAL_BAND
from sentiment.worker import WorkerKind


class SentimentConfig(BaseModel):
    """Settings for scoring, rolling sentiment and alerts; every field has a working default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    backend: str = "lexicon"
    #: A local model directory, for backends that need one.
    model: Path | None = None
    worker: WorkerKind = "auto"
    workers: int = Field(default=1, ge=1, le=64)
    batch_size: int = Field(default=64, ge=1, le=4096)
    batch_delay_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    #: |score| below this is labelled neutral.
    neutral_band: float = Field(default=DEFAULT_NEUTRAL_BAND, ge=0.0, lt=1.0)
    #: Weight of the newest customer message in the rolling score.
    alpha: float = Field(default=0.3, gt=0.0, le=1.0)
    #: Rolling values kept per conversation side, for trend and drop.
    window: int = Field(default=10, ge=2, le=100)
    #: Trend = rolling value now minus `trend_over` messages ago.
    trend_over: int = Field(default=3, ge=1)
    alerts: AlertRules = Field(default_factory=AlertRules)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.backend not in BACKENDS:
            raise ValueError(
                f"unknown backend {self.backend!r}; expected one of: {', '.join(BACKENDS)}"
            )
        if self.backend in MODEL_BACKENDS and self.model is None:
            raise ValueError(f"backend {self.backend!r} needs 'model', a local model directory")
        if self.trend_over >= self.window:
            raise ValueError(
                f"trend_over ({self.trend_over}) must be less than window ({self.window})"
            )
        drop = self.alerts.drop
        if drop is not None and drop.within >= self.window:
            raise ValueError(
                f"alerts.drop.within ({drop.within}) must be less than window ({self.window})"
            )
        return self
