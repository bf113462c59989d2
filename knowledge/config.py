"""``[knowledge]``: the knowledge base's settings, validated at start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from durations import Duration


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portal: bool = True
    """Serve the public help center (``/kb/``) and ``/api/v1/kb/...``; when
    false they answer 404, and only staff search remains."""
    suggested_articles: int = Field(5, ge=1, le=20)
    """Articles in a conversation's suggestions."""
    similar_conversations: int = Field(5, ge=0, le=20)
    """Similar closed conversations in a conversation's suggestions (0: none)."""
    similar_from: int = Field(5_000, ge=100, le=100_000)
    """How many of the most recently closed conversations are compared."""
    topics_period: Duration = timedelta(days=7)
    """The insights period when ``since`` is not given."""
    widget_per_second: float = Field(2.0, gt=0, le=1000)
    """Requests each client address may make per second, sustained, to the
    chat widget's article suggestions and deflection counts; then 429."""
    widget_burst: int = Field(30, ge=1, le=10_000)
    """Requests each client address may make at once before that limit."""
    topics_every: Duration | None = None
    """Run the topic clustering of the last ``topics_period`` this often in
    the background and store it (``GET /api/v1/insights/topics/latest``);
    unset: on demand only."""
    encoder: Path | None = None
    """A local sentence encoder (a transformers model directory, as
    ``save_pretrained`` writes it) whose embeddings are fused with the
    lexical ranking of suggested articles; unset: lexical only."""

    @field_validator("encoder")
    @classmethod
    def _encoder_loads(cls, value: Path | None) -> Path | None:
        # Loaded (and kept: ``load_encoder`` caches) at start, so a bad
        # directory stops the server naming this key, not the first pass.
        if value is not None:
            from intents.encoder import load_encoder  # torch: only when configured

            load_encoder(value)  # ModelFileError is a ValueError
        return value
