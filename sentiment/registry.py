"""Backend names to scorers: the one place that knows which backends exist.

Heavy dependencies (torch, transformers, onnxruntime) are imported only when
their backend is asked for, so the default install stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sentiment.errors import ModelNotFoundError, UnknownBackendError
from sentiment.scorer import DEFAULT_NEUTRAL_BAND, Scorer


def _lexicon(model: Path | None, neutral_band: float) -> Scorer:
    from sentiment.lexicon import LexiconScorer

    return LexiconScorer(neutral_band)


def _vader(model: Path | None, neutral_band: float) -> Scorer:
    from sentiment.lexicon import VaderScorer

    return VaderScorer(neutral_band)


def _transformers(model: Path | None, neutral_band: float) -> Scorer:
    if model is None:
        raise ModelNotFoundError(
            "the transformers backend needs a model: a local directory holding a "
            "sequence-classification model (config.json, weights, tokenizer files)"
        )
    from sentiment.transformer import TransformerScorer

    return TransformerScorer(model, neutral_band=neutral_band)


_BACKENDS: dict[str, Callable[[Path | None, float], Scorer]] = {
    "lexicon": _lexicon,
    "vader": _vader,
    "transformers": _transformers,
}

#: Backend names, in the order the docs and `--help` list them.
BACKENDS: tuple[str, ...] = tuple(_BACKENDS)
#: Backends that need a `model` path.
MODEL_BACKENDS: frozenset[str] = frozenset({"transformers"})


def get_scorer(
    backend: str = "lexicon",
    model: str | Path | None = None,
    *,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> Scorer:
    """Build the scorer for `backend`; `model` is a local model directory where one is needed.

    Raises:
        UnknownBackendError: `backend` is not one of `BACKENDS`.
        ModelNotFoundError: the backend needs a model and `model` is missing or not a directory.
        ModelLoadError: the model directory exists but cannot be loaded.
    """
    factory = _BACKENDS.get(backend)
    if factory is None:
        raise UnknownBackendError(
            f"unknown sentiment backend {backend!r}; expected one of: {', '.join(BACKENDS)}"
        )
    return factory(Path(model) if model is not None else None, neutral_band)
