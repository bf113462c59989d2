"""BM25F over the live articles: the lexical half of suggestion ranking.

Each article is analysed once into term ids and counts per field (title,
keywords, body) and kept (``Analysed``); an index is assembled from those
arrays with numpy, so rebuilding it after one article changed costs the
analysis of that article and a few vectorised passes, not the tokenising of
10,000 articles. The weights form a sparse document-term matrix; a query is
the sum of a few of its columns.

Words: lower-cased, "n't" read as "not" ("hasn't arrived" meets "not
arrived"), Porter-stemmed as SQLite's FTS5 stems them, and only greetings and
articles dropped: "why", "how", "not" and "can" tell intents apart, and
inverse document frequency already weighs common words down.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix

from knowledge.porter import stem

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NOT = re.compile("n['\u2019]t\\b")
STOP_WORDS = frozenset(["a", "an", "the", "hello", "hi", "hey", "please", "thanks", "thank"])
"""Words never counted: they say nothing about what a customer wants."""


def tokens(text: str) -> list[str]:
    """The stemmed words of ``text``, in order, stop words left out."""
    text = _NOT.sub(" not", text.lower())
    return [stem(w) for w in _WORD.findall(text) if w not in STOP_WORDS]


@dataclass(frozen=True, slots=True)
class Bm25Params:
    """k1 2.0 (a word repeated in an article keeps adding longer than the
    textbook 1.2 lets it) and a title weighing 5 bodies: chosen on BANKING77
    (``bench/knowledge_suggest.py``, where per-fold tuning on training data
    alone lands within 0.2 points of them)."""

    k1: float = 2.0
    b: float = 0.75
    weights: tuple[float, float, float] = (5.0, 2.0, 1.0)
    """Title, keywords, body."""


def ranges(indptr: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a compressed sparse matrix's arrays of the rows (CSR) or
    columns (CSC) ``picked``, concatenated, and how many each has."""
    starts = indptr[picked]
    lengths = indptr[picked + 1] - starts
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total), lengths


def column_sum(
    matrix: csc_matrix, cols: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """``matrix[:, cols] @ weights`` (weights 1 when not given) as a dense row
    vector, gathered straight from the CSC arrays: scipy's fancy indexing
    builds two intermediate matrices per call, most of a query's time."""
    at, lengths = ranges(matrix.indptr, cols)
    if not len(at):
        return np.zeros(matrix.shape[0], dtype=np.float32)
    values = matrix.data[at]
    if weights is not None:
        values = values * np.repeat(weights.astype(np.float32), lengths)
    return np.bincount(matrix.indices[at], values, minlength=matrix.shape[0]).astype(np.float32)


COMMON = 1 / 8
"""A word in more than this share of the rows is kept as a dense column."""


class Columns:
    """A weights matrix (rows: articles or conversations; columns: words)
    kept for summing a few of its columns.

    Words in more than ``COMMON`` of the rows ("my", "card", "not") hold
    nine tenths of what a long message touches at 10,000 articles: they are
    kept as dense rows of their own and added with numpy (a BLAS
    matrix-vector product was ten times slower here: OpenBLAS threads); the
    rest are gathered from the sparse columns."""

    def __init__(self, matrix: csc_matrix) -> None:
        self.matrix = matrix
        n, width = matrix.shape
        df = np.diff(matrix.indptr)
        common = np.flatnonzero(df > max(n * COMMON, 1))
        self._dense = np.ascontiguousarray(matrix[:, common].T.toarray(), dtype=np.float32)
        self._dense_at = np.full(width, -1, dtype=np.int64)
        self._dense_at[common] = np.arange(len(common))

    def sum(self, cols: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``matrix[:, cols] @ weights`` (weights 1 when not given), dense;
        columns past the matrix's width (words learnt since) count nothing."""
        n, width = self.matrix.shape
        inside = cols < width
        cols = cols[inside]
        if weights is not None:
            weights = weights[inside].astype(np.float32)
        if not len(cols) or not n:
            return np.zeros(n, dtype=np.float32)
        at = self._dense_at[cols]
        sparse, dense = at < 0, at >= 0
        found = column_sum(self.matrix, cols[sparse], None if weights is None else weights[sparse])
        if dense.any():
            rows = self._dense[at[dense]]
            if weights is None:
                found += np.add.reduce(rows, axis=0)
            else:
                found += np.add.reduce(rows * weights[dense][:, None], axis=0)
        return found


class Vocabulary:
    """Term -> column, shared by successive indexes so analysed articles stay
    valid; it only grows (a term no live article has any more costs a column
    of zeros)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        counted = Counter(tokens(text))
        ids = np.fromiter(
            (self.ids.setdefault(w, len(self.ids)) for w in counted), np.int32, len(counted)
        )
        return ids, np.fromiter(counted.values(), np.float32, len(counted))

    def lookup(self, text: str) -> list[int]:
        """Distinct known term ids of ``text`` (a query adds no terms)."""
        return sorted({j for w in tokens(text) if (j := self.ids.get(w)) is not None})


@dataclass(frozen=True, slots=True)
class Analysed:
    """One article's fields as term ids and counts."""

    fields: tuple[tuple[np.ndarray, np.ndarray], ...]
    lengths: tuple[float, ...]
    """Words in each field."""

    @classmethod
    def of(cls, vocabulary: Vocabulary, title: str, keywords: str, body: str) -> Analysed:
        fields = tuple(vocabulary.counts(text) for text in (title, keywords, body))
        return cls(fields, tuple(float(tf.sum()) for _, tf in fields))


class Bm25F:
    """The weights of ``docs``; ``scores`` ranks them for a query."""

    def __init__(
        self, docs: Sequence[Analysed], vocabulary: Vocabulary, params: Bm25Params
    ) -> None:
        self.vocabulary = vocabulary
        n, width = len(docs), max(len(vocabulary), 1)
        rows, cols, values = [], [], []
        for f, weight in enumerate(params.weights):
            lengths = np.array([d.lengths[f] for d in docs], dtype=np.float32)
            average = max(1.0, float(lengths.mean())) if n else 1.0
            norm = 1 - params.b + params.b * lengths / average
            sizes = np.array([len(d.fields[f][0]) for d in docs], dtype=np.int64)
            if not sizes.sum():
                continue
            owner = np.repeat(np.arange(n, dtype=np.int32), sizes)
            rows.append(owner)
            cols.append(np.concatenate([d.fields[f][0] for d in docs]))
            values.append(weight * np.concatenate([d.fields[f][1] for d in docs]) / norm[owner])
        if rows:
            # Summed per (article, term) across the fields, as BM25F wants.
            tf_matrix = coo_matrix(
                (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                shape=(n, width),
            ).tocsc()
        else:
            tf_matrix = csc_matrix((n, width), dtype=np.float32)
        tf_matrix.sum_duplicates()
        df = np.diff(tf_matrix.indptr).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        column = np.repeat(np.arange(width), np.diff(tf_matrix.indptr))
        tf = tf_matrix.data
        tf_matrix.data = (idf[column] * tf * (params.k1 + 1) / (tf + params.k1)).astype(np.float32)
        self.matrix = tf_matrix
        self.n = n
        self._columns = Columns(tf_matrix)

    def scores(self, text: str) -> np.ndarray:
        """BM25F of every article for ``text`` (0 where no term is shared)."""
        return self._columns.sum(np.array(self.vocabulary.lookup(text), dtype=np.int64))
