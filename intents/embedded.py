"""An intent model over a local transformers encoder: the encoder embeds a
message (``intents.encoder``), a linear classifier trained with scikit-learn
(``intents.training.train_on_encoder``) scores the intents.

Confidence is the softmax of the class scores at a temperature fitted on
held-out examples, as for the TF-IDF model, but without its share of words
seen in training: an encoder's point is to read words the examples never
used, so a message on a topic no example covers is not pushed below
``min_confidence`` by this backend.

The file holds the classifier only (a NumPy ``.npz`` read without pickle),
with the embedding of a fixed probe sentence: loading it with an encoder
that embeds the probe differently (another model, other weights) is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.encoder import PROBE, Encoder
from intents.errors import ModelFileError
from intents.model import EMBEDDINGS_FORMAT as FORMAT
from intents.model import FORMAT as TFIDF_FORMAT
from intents.model import Prediction

PROBE_TOLERANCE = 1e-3
"""Largest difference allowed between the stored and the re-computed probe
embedding (float noise of another CPU or torch version stays far below)."""

Floats = npt.NDArray[np.float32]


class EmbeddingIntentModel:
    """Classifies a message into one of ``classes`` from its embedding."""

    def __init__(
        self,
        encoder: Encoder,
        classes: Sequence[str],
        coef: Floats,
        intercept: Floats,
        scale: float,
        probe: Floats,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Raises ``ModelFileError`` when the arrays do not fit each other or
        the encoder."""
        dimension = encoder.dimension
        if coef.shape != (dimension, len(classes)) or intercept.shape != (len(classes),):
            raise ModelFileError(
                f"coefficients of shape {coef.shape} do not fit the encoder's {dimension}"
                f" dimensions and {len(classes)} intents"
            )
        if probe.shape != (dimension,):
            raise ModelFileError(f"probe of shape {probe.shape}, expected ({dimension},)")
        self.encoder = encoder
        self.classes = tuple(classes)
        self.coef = np.ascontiguousarray(coef, np.float32)
        self.intercept = np.asarray(intercept, np.float32)
        self.scale = float(scale)
        self.probe = np.asarray(probe, np.float32)
        self.meta: dict[str, Any] = dict(meta or {})

    def probabilities_of(self, vectors: Floats) -> Floats:
        """Softmax probabilities per row of embeddings."""
        scaled = (vectors @ self.coef + self.intercept) * self.scale
        scaled -= scaled.max(axis=1, keepdims=True)
        exp = np.exp(scaled)
        result: Floats = exp / exp.sum(axis=1, keepdims=True)
        return result

    def classify_many(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.probabilities_of(self.encoder.embed(texts))
        best = probs.argmax(axis=1)
        return [
            Prediction(self.classes[int(b)], float(p[b])) for b, p in zip(best, probs, strict=True)
        ]

    def classify(self, text: str) -> Prediction:
        """The most likely intent; an empty text gets one with confidence 0."""
        if not text.strip():
            return Prediction(self.classes[0], 0.0)
        return self.classify_many([text])[0]

    # -- the file ---------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        meta = {
            **self.meta,
            "format": FORMAT,
            "scale": self.scale,
            "dimension": self.encoder.dimension,
        }
        with Path(path).open("wb") as handle:
            np.savez_compressed(
                handle,
                classes=np.array(self.classes, dtype=np.str_),
                coef=self.coef,
                intercept=self.intercept,
                probe=self.probe,
                meta=np.array(json.dumps(meta)),
            )

    @classmethod
    def load(cls, path: str | Path, encoder: Encoder) -> EmbeddingIntentModel:
        """Read a classifier file and bind it to ``encoder``; raises
        ``ModelFileError`` naming what is wrong, including an encoder other
        than the one it was trained with."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                found = meta.get("format") if isinstance(meta, dict) else None
                if found == TFIDF_FORMAT:
                    raise ModelFileError(
                        f"{path}: a TF-IDF skill finder model; for backend 'transformers'"
                        " train one with `switchboard skills train --encoder DIR`"
                    )
                if found != FORMAT:
                    raise ModelFileError(
                        f"{path}: not a skill finder model (format {found!r}, expected {FORMAT!r})"
                    )
                classes = [str(c) for c in data["classes"]]
                coef = np.asarray(data["coef"], np.float32)
                intercept = np.asarray(data["intercept"], np.float32)
                probe = np.asarray(data["probe"], np.float32)
                scale = float(meta["scale"])
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such model file") from None
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a readable skill finder model ({exc})") from None
        if coef.shape[0] != encoder.dimension:
            raise ModelFileError(
                f"{path}: trained on {coef.shape[0]}-dimensional embeddings, but the encoder"
                f" {encoder.model_dir} makes {encoder.dimension}: not the encoder it was"
                " trained with"
            )
        model = cls(encoder, classes, coef, intercept, scale, probe, meta)
        again = encoder.embed([PROBE])[0]
        if float(np.abs(again - model.probe).max()) > PROBE_TOLERANCE:
            raise ModelFileError(
                f"{path}: the encoder {encoder.model_dir} is not the one this model was trained"
                " with (it embeds a test sentence differently); train again with this encoder"
            )
        return model
