"""What a sentiment scorer is: text in, a `Sentiment` (score and label) out.

Every backend (lexicon, transformers) satisfies the `Scorer` protocol, so the
worker, the CLI and the benchmarks never care which one runs. Labels come from
the score through one rule (`label_for`) so that all backends agree on what
"neutral" means.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: VADER's customary band: |score| < 0.05 reads as neutral.
DEFAULT_NEUTRAL_BAND = 0.05


class Label(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


def label_for(score: float, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> Label:
    """Map a score in [-1, 1] to a label; |score| < `neutral_band` is neutral.

    The band is closed on its edges towards polarity (score == band is
    positive), matching VADER's published convention (compound >= 0.05).
    """
    if score >= neutral_band:
        return Label.POSITIVE
    if score <= -neutral_band:
        return Label.NEGATIVE
    return Label.NEUTRAL


@dataclass(frozen=True, slots=True)
class Sentiment:
    """One scored text: `score` in [-1, 1] (negative to positive) and its label."""

    score: float
    label: Label

    def __post_init__(self) -> None:
        if not (math.isfinite(self.score) and -1.0 <= self.score <= 1.0):
            raise ValueError(
                f"sentiment score must be a finite number in [-1, 1], got {self.score!r}"
            )

    @classmethod
    def from_score(cls, score: float, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> Sentiment:
        """Clamp `score` into [-1, 1] (float noise) and label it."""
        clamped = min(1.0, max(-1.0, float(score)))
        return cls(clamped, label_for(clamped, neutral_band))

    def to_dict(self) -> dict[str, float | str]:
        """The wire shape used by the `sentiment` frame and the CLI."""
        return {"score": round(self.score, 4), "label": self.label.value}


@runtime_checkable
class Scorer(Protocol):
    """A sentiment backend. Implementations must be safe to call from one thread at a time.

    `language` is a BCP 47 tag (e.g. "en", "es-MX") or None for unknown; a
    backend that cannot read the language says so through its score (the
    lexicon falls back to language-independent cues such as emoji).
    """

    name: str

    def score(self, text: str, language: str | None = None) -> Sentiment: ...

    def score_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[Sentiment]: ...


def check_languages(
    texts: Sequence[str], languages: Sequence[str | None] | None
) -> Sequence[str | None]:
    """Return one language per text (None when not given); reject mismatched lengths."""
    if languages is None:
        return [None] * len(texts)
    if len(languages) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(languages)} languages")
    return languages
