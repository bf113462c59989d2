"""Topics customers ask about: clustering of short texts, labelled by their top terms.

Texts become TF-IDF vectors (words and word pairs, sublinear counts, English
stop words dropped), reduced by latent semantic analysis (truncated SVD) and
normalised, then grouped by k-means. LSA folds synonyms and co-occurring
words together, which plain TF-IDF k-means cannot: on BANKING77 it agrees
better with the human intents (``bench/knowledge_topics.py`` prints both).

A topic's label is its three heaviest terms in the TF-IDF centroid of its
members, and its representative is the member nearest the centroid. A fitted
``TopicModel`` also places texts of another period into the same topics, so
the trend compares like with like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

LSA_DIMENSIONS = 100
ASSIGN_MIN = 0.3
MINI_BATCH_FROM = 20_000
"""Above this many texts k-means runs in mini-batches (100,000 in seconds)."""


@dataclass(frozen=True, slots=True)
class Topic:
    label: str
    terms: tuple[str, ...]
    members: tuple[int, ...]
    """Indices of the texts in this topic, nearest the centre first."""


def default_k(n: int) -> int:
    """A readable number of topics for ``n`` texts: about sqrt(n/2), 2 to 12."""
    if n < 4:
        return 1
    return max(2, min(12, round(math.sqrt(n / 2))))


class TopicModel:
    """Topics of a set of texts; see the module docstring."""

    def __init__(
        self, texts: Sequence[str], k: int | None = None, *, lsa: bool = True, seed: int = 0
    ) -> None:
        self.texts = list(texts)
        n = len(self.texts)
        self._k = min(k or default_k(n), max(n, 1))
        self._vectorizer = TfidfVectorizer(
            stop_words="english",
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=2 if n >= 50 else 1,
            max_df=0.5 if n >= 50 else 1.0,
            token_pattern=r"(?u)\b[^\W\d_][\w']+\b",
        )
        self._svd: TruncatedSVD | None = None
        self.topics: list[Topic] = []
        self.assignments: np.ndarray[Any, Any] = np.zeros(n, dtype=np.int64)
        if n == 0:
            return
        try:
            tfidf = self._vectorizer.fit_transform(self.texts)
        except ValueError:  # nothing but stop words
            self._vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b")
            tfidf = self._vectorizer.fit_transform([t or "_" for t in self.texts])
        space = self._space(tfidf, fit=lsa)
        self._centre_of_all = np.asarray(space.mean(axis=0)).ravel()
        if self._k <= 1 or n < 2:
            self._clusterer: Any = None
            self.assignments = np.zeros(n, dtype=np.int64)
        else:
            kind = MiniBatchKMeans if n >= MINI_BATCH_FROM else KMeans
            options: dict[str, Any] = {"n_clusters": self._k, "random_state": seed, "n_init": 3}
            if kind is MiniBatchKMeans:
                options.update(batch_size=4096, n_init=3)
            self._clusterer = kind(**options).fit(space)
            self.assignments = np.asarray(self._clusterer.labels_, dtype=np.int64)
        self.topics = self._label(tfidf, space)

    def _space(self, tfidf: Any, *, fit: bool = False) -> Any:
        if fit:
            dims = min(LSA_DIMENSIONS, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
            if dims >= 2:
                self._svd = TruncatedSVD(dims, random_state=0)
                return normalize(self._svd.fit_transform(tfidf))
            return tfidf
        if self._svd is not None:
            return normalize(self._svd.transform(tfidf))
        return tfidf

    def _label(self, tfidf: Any, space: Any) -> list[Topic]:
        names = self._vectorizer.get_feature_names_out()
        topics = []
        for cluster in range(int(self.assignments.max()) + 1 if len(self.assignments) else 0):
            members = np.flatnonzero(self.assignments == cluster)
            if len(members) == 0:
                continue
            centroid = np.asarray(tfidf[members].mean(axis=0)).ravel()
            top = _top_terms(centroid, names, 5)
            centre = np.asarray(space[members].mean(axis=0)).ravel()
            closeness = np.asarray(space[members] @ centre).ravel()
            ordered = tuple(int(members[i]) for i in np.argsort(-closeness, kind="stable"))
            label = " / ".join(top[:3]) or self.texts[ordered[0]][:60]
            topics.append(Topic(label, tuple(top), ordered))
        topics.sort(key=lambda t: (-len(t.members), t.label))
        return topics

    def assign(self, texts: Sequence[str]) -> list[int]:
        """Which topic (an index into ``topics``) each text falls in; -1 when
        it is near none of them (cosine to the nearest centre under
        ``ASSIGN_MIN``: a text of another period need not belong anywhere)."""
        if not self.topics or not texts:
            return [-1] * len(texts)
        space = self._space(self._vectorizer.transform(list(texts)))
        order = {int(self.assignments[t.members[0]]): i for i, t in enumerate(self.topics)}
        if self._clusterer is None:
            centres = normalize(np.asarray(self._centre_of_all).reshape(1, -1))
        else:
            centres = normalize(self._clusterer.cluster_centers_)
        similarity = np.asarray(space @ centres.T)
        best = similarity.argmax(axis=1)
        return [
            order.get(int(b), -1) if similarity[i, b] >= ASSIGN_MIN else -1
            for i, b in enumerate(best)
        ]


def _top_terms(weights: np.ndarray[Any, Any], names: Any, n: int) -> list[str]:
    chosen: list[str] = []
    for i in np.argsort(-weights, kind="stable"):
        if weights[i] <= 0 or len(chosen) >= n:
            break
        term = str(names[i])
        # A word pair repeats its words; keep whichever came first.
        if any(term in c.split() or c in term.split() for c in chosen):
            continue
        chosen.append(term)
    return chosen


@dataclass(frozen=True, slots=True)
class TopicSummary:
    label: str
    terms: tuple[str, ...]
    conversations: int
    share: float
    previous: int
    trend: float
    """Relative change against the previous period: (now - before) / max(before, 1)."""
    emerging: bool
    """Nothing of it in the previous period, and at least ``EMERGING_MIN`` now."""
    examples: tuple[int, ...]
    members: tuple[int, ...]
    """Indices of all its texts, nearest the centre first."""


EMERGING_MIN = 3


def summarise(
    current: Sequence[str], previous: Sequence[str], k: int | None = None, examples: int = 3
) -> list[TopicSummary]:
    """Topics of ``current`` with their volume, share and trend against ``previous``."""
    model = TopicModel(current, k)
    before = [0] * len(model.topics)
    for index in model.assign(previous):
        if index >= 0:
            before[index] += 1
    total = len(current)
    out = []
    for topic, prev in zip(model.topics, before, strict=True):
        count = len(topic.members)
        out.append(
            TopicSummary(
                label=topic.label,
                terms=topic.terms,
                conversations=count,
                share=round(count / total, 4) if total else 0.0,
                previous=prev,
                trend=round((count - prev) / max(prev, 1), 4),
                emerging=prev == 0 and count >= EMERGING_MIN and bool(previous),
                examples=topic.members[:examples],
                members=topic.members,
            )
        )
    return out
