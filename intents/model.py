"""A trained intent model: classify one message, save and load as one file.

The model is a linear classifier over two TF-IDF blocks (word and character
n-grams, each L2-normalized, as scikit-learn's ``TfidfVectorizer`` with
``sublinear_tf`` makes them). Classification does that arithmetic directly
on the few features a message has, without scikit-learn's per-call input
checks, so one message costs tens of microseconds instead of a millisecond.

Confidence is the largest softmax probability of the class scores times a
``scale`` fitted at training on held-out scores (temperature scaling), so
0.8 means "right about 80% of the time" on data like the training set;
times the share of the message's words the model has seen in training,
since nothing in held-out scores says how sure to be about words never
seen ("zzqx", or a topic the examples never cover): such a message falls
back to the intake rules instead of going wherever the intercepts point.

The file is a NumPy ``.npz`` read with ``allow_pickle=False``: a model file
from anywhere can be loaded without running code from it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intents.errors import ModelFileError
from intents.features import char_grams, word_grams, words

FORMAT = "switchboard-skill-finder/1"
EMBEDDINGS_FORMAT = "switchboard-skill-finder-embeddings/1"
"""The format of ``intents.embedded`` models (over a transformers encoder)."""
Analyzer = Callable[[str], list[str]]
ANALYZERS: Mapping[str, Analyzer] = {"word": word_grams, "char": char_grams}

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Prediction:
    """The most likely intent of a message and how sure the model is (0-1)."""

    intent: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Block:
    """One TF-IDF block: an analyzer, its vocabulary and idf weights, and
    where its features start in the coefficient matrix."""

    name: str
    vocabulary: Mapping[str, int]
    idf: Floats
    offset: int

    def features(self, text: str) -> tuple[npt.NDArray[np.intp], Floats]:
        """Row indices into the coefficients and the normalized weights."""
        vocabulary = self.vocabulary
        counts = Counter(
            i for i in map(vocabulary.get, ANALYZERS[self.name](text)) if i is not None
        )
        if not counts:
            return np.empty(0, np.intp), np.empty(0, np.float32)
        index = np.fromiter(counts.keys(), np.intp, len(counts))
        tf = np.fromiter(counts.values(), np.float32, len(counts))
        weights: Floats = ((np.log(tf) + 1.0) * self.idf[index]).astype(np.float32, copy=False)
        weights /= np.sqrt(weights @ weights)
        return index + self.offset, weights


class IntentModel:
    """Classifies a message into one of ``classes``."""

    def __init__(
        self,
        classes: Sequence[str],
        blocks: Sequence[Block],
        coef: Floats,
        intercept: Floats,
        scale: float,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        n_features = sum(len(b.vocabulary) for b in blocks)
        if coef.shape != (n_features, len(classes)) or intercept.shape != (len(classes),):
            raise ModelFileError(
                f"coefficients of shape {coef.shape} do not fit {n_features} features"
                f" and {len(classes)} intents"
            )
        self.classes = tuple(classes)
        self.blocks = tuple(blocks)
        self.coef = np.ascontiguousarray(coef, np.float32)
        self.intercept = np.asarray(intercept, np.float32)
        self.scale = float(scale)
        self.meta: dict[str, Any] = dict(meta or {})

    def scores(self, text: str) -> Floats:
        """The linear score of every class (higher: more likely)."""
        total = self.intercept.copy()
        for block in self.blocks:
            index, weights = block.features(text)
            if index.size:
                total += weights @ self.coef[index]
        return total

    def probabilities(self, text: str) -> Floats:
        scaled = self.scores(text) * self.scale
        scaled -= scaled.max()
        exp = np.exp(scaled)
        result: Floats = exp / exp.sum()
        return result

    def known_share(self, text: str) -> float:
        """The share of the text's words seen in training (0 for no words)."""
        tokens = words(text)
        vocabulary = next((b.vocabulary for b in self.blocks if b.name == "word"), {})
        return sum(t in vocabulary for t in tokens) / len(tokens) if tokens else 0.0

    def classify(self, text: str) -> Prediction:
        """The most likely intent; a text of unseen words still gets one,
        with a confidence near 0."""
        probs = self.probabilities(text)
        best = int(probs.argmax())
        return Prediction(self.classes[best], float(probs[best]) * self.known_share(text))

    # -- the file ---------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        arrays: dict[str, Any] = {
            "classes": np.array(self.classes, dtype=np.str_),
            "coef": self.coef,
            "intercept": self.intercept,
            "meta": np.array(
                json.dumps(
                    {
                        **self.meta,
                        "format": FORMAT,
                        "scale": self.scale,
                        "blocks": [b.name for b in self.blocks],
                    }
                )
            ),
        }
        for block in self.blocks:
            terms = sorted(block.vocabulary, key=block.vocabulary.__getitem__)
            arrays[f"{block.name}_terms"] = np.array(terms, dtype=np.str_)
            arrays[f"{block.name}_idf"] = block.idf
        with Path(path).open("wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> IntentModel:
        """Read a model file; raises ``ModelFileError`` naming what is wrong."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                    found = meta.get("format") if isinstance(meta, dict) else None
                    if found == EMBEDDINGS_FORMAT:
                        raise ModelFileError(
                            f"{path}: trained over a transformers encoder; set [skill_finder]"
                            " backend = 'transformers' and encoder = <the model directory>"
                        )
                    raise ModelFileError(
                        f"{path}: not a skill finder model (format {found!r}, expected {FORMAT!r})"
                    )
                blocks: list[Block] = []
                offset = 0
                for name in meta["blocks"]:
                    if name not in ANALYZERS:
                        raise ModelFileError(f"{path}: unknown feature block {name!r}")
                    terms = [str(t) for t in data[f"{name}_terms"]]
                    idf = np.asarray(data[f"{name}_idf"], np.float32)
                    vocabulary = {term: i for i, term in enumerate(terms)}
                    blocks.append(Block(name, vocabulary, idf, offset))
                    offset += len(terms)
                return cls(
                    [str(c) for c in data["classes"]],
                    blocks,
                    np.asarray(data["coef"], np.float32),
                    np.asarray(data["intercept"], np.float32),
                    float(meta["scale"]),
                    meta,
                )
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such model file") from None
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{path}: not a readable skill finder model ({exc})") from None


def softmax_nll(scores: Floats, truth: npt.NDArray[np.intp], scale: float) -> float:
    """Mean negative log-likelihood of the true classes at a softmax scale."""
    scaled = scores * scale
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    picked = scaled[np.arange(len(truth)), truth]
    return float(np.mean(log_norm - picked)) if len(truth) else math.inf
