"""The ``[skill_finder]`` section of the config file, validated at start.

```toml
[skill_finder]
model = "skill_finder.npz"     # from `switchboard skills train`; absent: off
min_confidence = 0.5           # below it, intake rules decide alone
messages = 3                   # unsure: read up to this many customer messages
wait = "5s"                    # ...waiting at most this long for the next one
# backend = "transformers"     # with encoder = a local model directory

[skill_finder.intents.card_arrival]
skills = { cards = 2 }         # added to the item's requirements
queue = "cards"                # optional
priority = 1                   # optional
```

Whether the model file (and the encoder directory) exists, and knows the
intents named here, is checked when the server starts (the filesystem is not
config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from durations import Seconds
from router.items import MAX_LEVEL, MIN_LEVEL

Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]


class IntentRoute(BaseModel):
    """Where a confidently found intent sends the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skills: dict[str, Level] = Field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None


class SkillFinderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Path | None = None
    """The model file; None turns the skill finder off."""
    backend: Literal["tfidf", "transformers"] = "tfidf"
    """``tfidf``: the model file alone. ``transformers``: the model file is a
    classifier over the embeddings of ``encoder``."""
    encoder: Path | None = None
    """A local transformers model directory (``backend = "transformers"``)."""
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """Confidence (0-1) below which the intent is not used."""
    messages: int = Field(default=3, ge=1, le=20)
    """How many of the customer's first messages may be read while the
    finding stays below ``min_confidence``; 1: the first message only."""
    wait: Seconds = 5.0
    """How long an unsure conversation waits for the customer's next message
    before it is routed with what was found."""
    intents: dict[str, IntentRoute] = Field(default_factory=dict)
    """Skills, queue and priority per intent; intents not listed only set
    the ``intent`` variable for intake rules."""

    @model_validator(mode="after")
    def _encoder_with_its_backend(self) -> Self:
        if self.backend == "transformers" and self.model is not None and self.encoder is None:
            raise ValueError(
                "backend 'transformers' needs encoder = <a local transformers model directory>"
            )
        if self.backend != "transformers" and self.encoder is not None:
            raise ValueError("encoder is only for backend = 'transformers'")
        return self
