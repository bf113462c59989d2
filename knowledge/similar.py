"""Nearest texts by TF-IDF cosine similarity: similar resolved conversations.

Built from the customer side of closed conversations and queried with the
customer side of a running one. Rebuilt by the shell when the set changes;
a query is one sparse matrix-vector product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

MIN_SCORE = 0.05


class SimilarIndex:
    def __init__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        self.keys = list(keys)
        self._vectorizer = TfidfVectorizer(
            stop_words="english", sublinear_tf=True, ngram_range=(1, 2)
        )
        self._matrix = None
        if self.keys:
            try:
                self._matrix = self._vectorizer.fit_transform(list(texts))
            except ValueError:  # no usable words at all
                self._matrix = None

    def query(
        self, text: str, k: int = 5, exclude: frozenset[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar keys with their cosine scores, best first."""
        if self._matrix is None or not text.strip():
            return []
        vector = self._vectorizer.transform([text])
        scores = np.asarray((self._matrix @ vector.T).todense()).ravel()
        found: list[tuple[str, float]] = []
        for i in np.argsort(-scores, kind="stable"):
            score = float(scores[i])
            if score < MIN_SCORE or len(found) >= k:
                break
            if self.keys[i] not in exclude:
                found.append((self.keys[i], round(score, 4)))
        return found
