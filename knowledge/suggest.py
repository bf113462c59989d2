"""The in-memory index that suggests live articles for what a customer wrote.

Two rankings fused: BM25F over stemmed words (``knowledge.bm25``) and the
cosine of character 3- and 4-grams (``knowledge.chargrams``). Each is scaled
by its best score for the query and they are mixed ``1 - CHAR_WEIGHT`` to
``CHAR_WEIGHT``; characters re-rank the ``RERANKED`` best articles by
words, and only articles sharing at least one word with the text are
candidates (characters alone would find something in anything). On
BANKING77 with 10 messages an article this lifts top-3 from 86.8% (BM25F,
light stemming, stop words out) to 90.0% (``bench/knowledge_suggest.py``).

A query never touches the database: at 10,000 articles it takes about
1.5 ms (p50) on this machine. A rebuild after an article changed analyses
only the articles it has not seen (``previous``) and takes the n-gram
profiles of the others from the previous index.

Optionally (``embed``: a local sentence encoder, ``[knowledge] encoder``)
each article's title and body start are embedded at build, and a query
given the customer text's vector (``query_vector``, which the shell runs on
the encoder's thread) fuses the lexical ranking above with the cosine
ranking of the embeddings by reciprocal rank fusion (``knowledge.fusion``):
an article may then be suggested without a shared word, as long as the
text has one word that is not a greeting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from knowledge.bm25 import Analysed, Bm25F, Bm25Params, Vocabulary, tokens
from knowledge.chargrams import CharIndex, Profile, article_text, profile
from knowledge.fusion import reciprocal_rank_fusion
from knowledge.text import MAX_QUERY_CHARS

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts in, one L2-normalised row each out (``intents.encoder.Encoder.embed``)."""

CHAR_WEIGHT = 0.4
RERANKED = 50
"""Articles, the best by words, that characters re-rank: scoring every
article sharing a trigram with a long message took tens of milliseconds at
10,000 articles (py-spy), these take well under one."""
EMBEDDED_BODY_CHARS = 1000
"""Of an article's body, embedded after its title (an encoder reads its
first 128 tokens anyway)."""
EMBEDDED_QUERY_CHARS = 400
"""Of the customer's text, the latest, embedded: about the 128 tokens an
encoder reads, so that it reads the newest words rather than the oldest."""
DENSE_DEPTH = 50
"""Articles, the nearest by embedding, that the cosine ranking brings to
the fusion (as many as words bring)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One published article as the index keeps it."""

    id: str
    title: str
    keywords: str
    body: str
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    language: str = "en"

    def live_at(self, now: datetime) -> bool:
        return (self.publish_at is None or self.publish_at <= now) and (
            self.expires_at is None or self.expires_at > now
        )


def embedded_text(entry: Entry) -> str:
    return f"{entry.title}\n{entry.body[:EMBEDDED_BODY_CHARS]}"


@dataclass(frozen=True, slots=True)
class SuggestParams:
    bm25: Bm25Params = field(default_factory=Bm25Params)
    char_weight: float = CHAR_WEIGHT


def _primary(language: str) -> str:
    return language.lower().split("-")[0]


class SuggestionIndex:
    def __init__(
        self,
        entries: Sequence[Entry],
        previous: SuggestionIndex | None = None,
        params: SuggestParams | None = None,
        embed: Embed | None = None,
    ) -> None:
        """``embed``: also embed the articles (those ``previous`` embedded
        with the same function are not embedded again); it runs here, on
        the building thread."""
        self.entries = list(entries)
        self.params = params or SuggestParams()
        self._vocabulary: Vocabulary = Vocabulary() if previous is None else previous._vocabulary
        known = {} if previous is None else previous._analysed
        # Per article: its words (kept) and its row in the character index,
        # where the next index finds its n-gram profile.
        self._analysed: dict[tuple[str, str, str, str], tuple[Analysed, int]] = {}
        profiles: list[Profile] = []
        seen: list[tuple[int, int]] = []  # (row, row in previous)
        for row, e in enumerate(self.entries):
            key = (e.id, e.title, e.keywords, e.body)
            found = known.get(key)
            if found is not None and previous is not None:
                words, grams = found[0], previous._chars.row(found[1])
                seen.append((row, found[1]))
            else:
                words = Analysed.of(self._vocabulary, e.title, e.keywords, e.body)
                grams = profile(article_text(e.title, e.keywords, e.body))
            self._analysed[key] = (words, row)
            profiles.append(grams)
        self._bm25 = Bm25F(
            [self._analysed[(e.id, e.title, e.keywords, e.body)][0] for e in self.entries],
            self._vocabulary,
            self.params.bm25,
        )
        self._chars: CharIndex = CharIndex(profiles)
        inf = float("inf")
        self._starts = np.array(
            [-inf if e.publish_at is None else e.publish_at.timestamp() for e in self.entries]
        )
        self._ends = np.array(
            [inf if e.expires_at is None else e.expires_at.timestamp() for e in self.entries]
        )
        self._languages = np.array([_primary(e.language) for e in self.entries], dtype=object)
        self.embed = embed
        self._vectors: np.ndarray | None = None
        if embed is not None:
            self._vectors = self._embedded(embed, previous, seen)

    def _embedded(
        self, embed: Embed, previous: SuggestionIndex | None, seen: list[tuple[int, int]]
    ) -> np.ndarray:
        """One unit row per article: the previous index's rows for articles
        it embedded with ``embed``, the others embedded now."""
        old = None
        if previous is not None and previous.embed == embed and previous._vectors is not None:
            old = previous._vectors
        kept = dict(seen) if old is not None else {}
        fresh = [row for row in range(len(self.entries)) if row not in kept]
        new = embed([embedded_text(self.entries[row]) for row in fresh]) if fresh else None
        width = new.shape[1] if new is not None else 0 if old is None else old.shape[1]
        vectors = np.zeros((len(self.entries), width), dtype=np.float32)
        if new is not None:
            vectors[fresh] = new
        if kept and old is not None:
            vectors[list(kept)] = old[list(kept.values())]
        return vectors

    def query_vector(self, text: str) -> np.ndarray | None:
        """The embedding of the customer's ``text`` (its latest
        ``EMBEDDED_QUERY_CHARS``), or None: no encoder, or a text with no
        word beyond greetings (which gets no suggestion either way). Runs
        the encoder: call it off the event loop."""
        if self.embed is None or not tokens(text[-MAX_QUERY_CHARS:]):
            return None
        return np.asarray(self.embed([text[-EMBEDDED_QUERY_CHARS:]])[0], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.entries)

    def scores(self, text: str, eligible: np.ndarray | None = None) -> np.ndarray:
        """The fused score of every article for ``text``; 0 for those not
        ``eligible`` (a mask), sharing no word, or past the ``RERANKED``
        best by words."""
        text = text[-MAX_QUERY_CHARS:]
        words = self._bm25.scores(text)
        if eligible is not None:
            words = np.where(eligible, words, 0)
        candidates = np.flatnonzero(words > 0)
        fused = np.zeros(len(self.entries), dtype=np.float32)
        if not len(candidates):
            return fused
        if len(candidates) > RERANKED:
            candidates = candidates[np.argpartition(-words[candidates], RERANKED)[:RERANKED]]
        mine = words[candidates] / words[candidates].max()
        share = self.params.char_weight
        if share > 0:
            chars = self._chars.scores(text, candidates)
            top = float(chars.max())
            fused[candidates] = (1 - share) * mine + (share * chars / top if top > 0 else 0)
        else:
            fused[candidates] = mine
        return fused

    def fused(
        self, text: str, vector: np.ndarray, eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """The lexical ranking (``scores``) and the cosine ranking of the
        ``DENSE_DEPTH`` nearest ``eligible`` articles to ``vector``, fused
        by reciprocal rank (1: first in both; 0: in neither)."""
        lexical = self.scores(text, eligible)
        words = np.flatnonzero(lexical > 0)
        words = words[np.argsort(-lexical[words], kind="stable")]
        if self._vectors is None or not self._vectors.shape[1]:
            return reciprocal_rank_fusion([words], len(self.entries))
        # einsum, not ``@``: a BLAS matrix-vector product wakes OpenBLAS's
        # threads; at 10,000 x 384 the fused query took 8 ms p50 with ``@``,
        # 2.7 ms with this.
        cosine = np.einsum("ij,j->i", self._vectors, vector.astype(np.float32, copy=False))
        pool = np.arange(len(self.entries)) if eligible is None else np.flatnonzero(eligible)
        if len(pool) > DENSE_DEPTH:
            pool = pool[np.argpartition(-cosine[pool], DENSE_DEPTH - 1)[:DENSE_DEPTH]]
        near = pool[np.argsort(-cosine[pool], kind="stable")]
        return reciprocal_rank_fusion([words, near], len(self.entries))

    def query(
        self,
        text: str,
        k: int = 5,
        now: datetime | None = None,
        language: str | None = None,
        vector: np.ndarray | None = None,
    ) -> list[tuple[Entry, float]]:
        """The ``k`` best articles for ``text``, best first: those live at
        ``now`` when it is given, in ``language`` (its primary subtag) when
        that is given. With the text's ``vector`` (``query_vector``) and an
        index built with ``embed``, ranked by ``fused``; otherwise lexically."""
        if not self.entries or k < 1:
            return []
        eligible = None
        if now is not None:
            moment = now.timestamp()
            eligible = (self._starts <= moment) & (self._ends > moment)
        if language is not None:
            same = self._languages == _primary(language)
            eligible = same if eligible is None else eligible & same
        if vector is not None and self._vectors is not None:
            scores = self.fused(text, vector, eligible)
        else:
            scores = self.scores(text, eligible)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k)[:k]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(self.entries[int(i)], round(float(scores[i]), 4)) for i in ordered]
