"""Nearest texts by TF-IDF cosine similarity: similar resolved conversations.

Built from the customer side of closed conversations and queried with the
customer side of a running one; rebuilt by the shell when the set changes.
Words and word pairs as suggestions read them (``knowledge.bm25.tokens``:
stemmed, "n't" as "not"), weighted ``(1 + log tf) * idf`` (smooth) and
normalised, as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)`` would;
a query sums a few columns (``knowledge.bm25.Columns``) on the calling
thread, a fraction of a millisecond at 5,000 conversations where the
vectorizer took two and a thread hop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from scipy.sparse import coo_matrix

from knowledge.bm25 import Columns, tokens

MIN_SCORE = 0.05


def _terms(text: str) -> list[str]:
    words = tokens(text)
    return words + [f"{a} {b}" for a, b in pairwise(words)]


class SimilarIndex:
    def __init__(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        self.keys = list(keys)
        self._vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        for i, text in enumerate(texts):
            for term, tf in Counter(_terms(text)).items():
                rows.append(i)
                cols.append(self._vocabulary.setdefault(term, len(self._vocabulary)))
                counts.append(tf)
        n, width = len(self.keys), max(len(self._vocabulary), 1)
        matrix = coo_matrix(
            (np.array(counts, dtype=np.float32), (rows, cols)), shape=(n, width)
        ).tocsc()
        df = np.diff(matrix.indptr).astype(np.float32)
        self._idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        column = np.repeat(np.arange(width), np.diff(matrix.indptr))
        matrix.data = ((1 + np.log(matrix.data)) * self._idf[column]).astype(np.float32)
        norms = np.sqrt(np.bincount(matrix.indices, matrix.data**2, minlength=n))
        matrix.data /= np.maximum(norms, 1e-12)[matrix.indices].astype(np.float32)
        self._columns = Columns(matrix)

    def query(
        self, text: str, k: int = 5, exclude: frozenset[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar keys with their cosine scores, best first."""
        counted = Counter(t for t in _terms(text) if t in self._vocabulary)
        if not self.keys or not counted:
            return []
        cols = np.array([self._vocabulary[t] for t in counted], dtype=np.int64)
        weights = (1 + np.log(np.array(list(counted.values()), dtype=np.float32))) * self._idf[cols]
        weights /= max(float(np.linalg.norm(weights)), 1e-12)
        scores = self._columns.sum(cols, weights)
        found: list[tuple[str, float]] = []
        wanted = min(len(scores), k + len(exclude))
        best = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else None
        order = np.arange(len(scores)) if best is None else best
        for i in order[np.argsort(-scores[order], kind="stable")]:
            score = float(scores[i])
            if score < MIN_SCORE or len(found) >= k:
                break
            if self.keys[i] not in exclude:
                found.append((self.keys[i], round(score, 4)))
        return found
