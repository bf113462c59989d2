"""Character n-gram TF-IDF cosine: the sub-word half of suggestion ranking.

Words miss what characters catch: "top-up hasn't gone through" against
"top up not gone through", "recieve" against "receive", "gets here"
against "get here". Every 3- and 4-character sequence of the lower-cased
text (across word boundaries, whitespace collapsed) is hashed into
``2**BITS`` columns with numpy, weighted ``(1 + log tf) * idf`` and
normalised, as scikit-learn's ``HashingVectorizer`` + ``TfidfTransformer``
(sublinear, smooth idf) would, without a Python loop per n-gram: the 10,000
articles of a knowledge base are hashed in well under a second.

An article is represented by its title, keywords and the first
``BODY_CHARS`` characters of its body: what it is about is said there, and
the matrix stays a few kilobytes an article however long the articles are.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix

from knowledge.bm25 import ranges

BITS = 20
SIZES = (3, 4)
BODY_CHARS = 1000
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _codes(text: str) -> np.ndarray:
    flat = " " + " ".join(text.lower().split()) + " "
    return np.frombuffer(flat.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hashed n-grams of the concatenated texts ``codes[starts[i]:ends[i]]``:
    the text index and the column of every n-gram that lies inside one text."""
    owner = np.repeat(np.arange(len(starts)), ends - starts)
    found_rows, found_cols = [], []
    with np.errstate(over="ignore"):
        for size in SIZES:
            if len(codes) < size:
                continue
            count = len(codes) - size + 1
            h = np.full(count, size, dtype=np.uint64)
            for j in range(size):
                h = h * _PRIME + codes[j : j + count]
            inside = np.arange(count) + size <= ends[owner[:count]]
            found_rows.append(owner[:count][inside])
            found_cols.append(((h[inside] * _MIX) >> np.uint64(64 - BITS)).astype(np.int32))
    if not found_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    return np.concatenate(found_rows), np.concatenate(found_cols)


def _corpus(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [_codes(t) for t in texts]
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    ends = np.cumsum(lengths)
    codes = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    return codes, ends - lengths, ends


def counts(texts: Sequence[str]) -> csc_matrix:
    """Raw n-gram counts, one row per text (duplicates summed)."""
    rows, cols = _hashes(*_corpus(texts))
    matrix = coo_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), 1 << BITS)
    ).tocsc()
    matrix.sum_duplicates()
    return matrix


Profile = tuple[np.ndarray, np.ndarray]


def profile(text: str) -> Profile:
    """The distinct columns of ``text``'s n-grams, sorted, and their
    sublinear term frequencies ``1 + log count`` (half precision: ranks do
    not need more, and an article costs 6 bytes an n-gram)."""
    _, cols = _hashes(*_corpus([text]))
    found, times = np.unique(cols, return_counts=True)
    return found.astype(np.int32), (1 + np.log(times)).astype(np.float16)


def article_text(title: str, keywords: str, body: str) -> str:
    return f"{title} {keywords} {body[:BODY_CHARS]}"


class CharIndex:
    """The n-gram profiles of some texts (``profile`` of each); ``scores`` is
    their cosine to a query.

    Only the profiles are kept (a column and a weight per n-gram, 6 bytes),
    with each row's norm: a query weighs the rows it is asked about, the
    best articles by words, when it scores them. So its cost is theirs, not
    that of every article sharing a common trigram such as "the", and a
    rebuild takes the rows of articles it already has from ``row``."""

    def __init__(self, profiles: Sequence[Profile]) -> None:
        n = len(profiles)
        lengths = np.array([len(cols) for cols, _ in profiles], dtype=np.int64)
        self._indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._cols = np.concatenate([c for c, _ in profiles]) if n else np.zeros(0, np.int32)
        self._tf = np.concatenate([t for _, t in profiles]) if n else np.zeros(0, np.float16)
        df = np.bincount(self._cols, minlength=1 << BITS).astype(np.float32)
        self.idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        self._norms = np.ones(n, dtype=np.float32)
        if len(self._cols):
            weights = self._tf.astype(np.float32)
            weights *= self.idf[self._cols]
            filled = lengths > 0
            self._norms[filled] = np.sqrt(
                np.add.reduceat(weights * weights, self._indptr[:-1][filled])
            )
        self.n = n
        self._scratch = np.zeros(1 << BITS, dtype=np.float32)
        self._lock = threading.Lock()

    def row(self, i: int) -> Profile:
        """The profile of text ``i`` (views of this index's arrays)."""
        start, end = self._indptr[i], self._indptr[i + 1]
        return self._cols[start:end], self._tf[start:end]

    def scores(self, text: str, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity to ``text`` of the texts ``rows`` (indices)."""
        cols, tf = profile(text)
        if not len(rows) or not len(cols):
            return np.zeros(len(rows), dtype=np.float32)
        weights = tf.astype(np.float32) * self.idf[cols]
        weights /= max(float(np.linalg.norm(weights)), 1e-12)
        at, lengths = ranges(self._indptr, rows)
        found = self._cols[at]
        values = self._tf[at].astype(np.float32) * self.idf[found]
        with self._lock:  # the query's weights by column, a scratch row reset after use
            self._scratch[cols] = weights
            values *= self._scratch[found]
            self._scratch[cols] = 0
        owner = np.repeat(np.arange(len(rows)), lengths)
        dots = np.bincount(owner, values, minlength=len(rows)).astype(np.float32)
        scores: np.ndarray = dots / self._norms[rows]
        return scores
