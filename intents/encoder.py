"""A local transformers model as the skill finder's reader: text in, one
vector out (the mean of the last hidden states over the message's tokens,
L2-normalized).

The model directory is whatever ``save_pretrained`` wrote (config.json,
weights, tokenizer files), given by the operator as ``[skill_finder]
encoder``. Nothing is fetched: every load passes ``local_files_only=True``,
as the sentiment backend does. torch and transformers come with the ``ml``
extra and are imported only here, when an encoder is configured.

A forward pass of a real encoder costs milliseconds, so the server runs it
off the event loop (``SkillFinder.inline`` is False for this backend).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.errors import ModelFileError

Floats = npt.NDArray[np.float32]

PROBE = "my card has not arrived and I would like a refund"
"""Embedded at training and again at load: a classifier trained on another
encoder's vectors is refused instead of classifying nonsense."""


class Encoder:
    """Embeds texts with a local model directory.

    Args:
        model_dir: the directory ``save_pretrained`` wrote.
        max_length: tokens per text; longer texts are truncated (and never
            more than the model has position embeddings for).
        batch_size: texts per forward pass; texts are grouped by length so
            that little padding is computed.

    Raises:
        ModelFileError: not a model directory, the ML extra is missing, or
            the model cannot be loaded.
    """

    def __init__(self, model_dir: str | Path, *, max_length: int = 128, batch_size: int = 32):
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            raise ModelFileError(f"{path}: no such model directory")
        if not (path / "config.json").is_file():
            raise ModelFileError(
                f"{path}: not a model directory (no config.json; expected what"
                " save_pretrained writes)"
            )
        try:
            import torch
            from transformers import AutoConfig, AutoModel, AutoTokenizer
            from transformers.utils import logging as transformers_logging
        except ImportError:
            raise ModelFileError(
                "the transformers backend needs the ML extras: pip install 'switchboard[ml]'"
            ) from None
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self.model_dir = path
        self._torch = torch
        self._batch_size = batch_size
        # One forward pass at a time: torch parallelizes inside a pass already.
        self._lock = threading.Lock()
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            self._tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self._model: Any = AutoModel.from_pretrained(path, local_files_only=True)
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError...
            raise ModelFileError(f"{path}: cannot load the model ({exc})") from None
        self._model.eval()
        limits = [max_length, getattr(config, "max_position_embeddings", None)]
        limits.append(getattr(self._tokenizer, "model_max_length", None))
        self._max_length = min(n for n in limits if isinstance(n, int) and 0 < n < 1_000_000)
        size = getattr(config, "hidden_size", None)
        self.dimension = int(size) if isinstance(size, int) else int(self.embed([PROBE]).shape[1])

    def embed(self, texts: Sequence[str]) -> Floats:
        """One L2-normalized row per text, in order (texts must not be empty)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows: list[Floats] = [np.empty(0, np.float32)] * len(texts)
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            for i, row in zip(chunk, self._embed_chunk([texts[i] for i in chunk]), strict=True):
                rows[i] = row
        return np.stack(rows) if rows else np.zeros((0, self.dimension), np.float32)

    def _embed_chunk(self, texts: list[str]) -> Floats:
        torch = self._torch
        encoded = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
        )
        with self._lock, torch.no_grad():
            hidden = self._model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        vectors: Floats = pooled.float().numpy().astype(np.float32, copy=False)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.maximum(norms, 1e-12)
        return vectors


_cache: dict[tuple[str, int], Encoder] = {}
_cache_lock = threading.Lock()


def load_encoder(model_dir: str | Path) -> Encoder:
    """An ``Encoder`` for the directory, shared by the config check at start
    and the router (one load per directory and config.json version)."""
    path = Path(model_dir).expanduser()
    try:
        stamp = (path / "config.json").stat().st_mtime_ns
    except OSError:
        stamp = -1
    key = (str(path.resolve()), stamp)
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = Encoder(path)
        return found
