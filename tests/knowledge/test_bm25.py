"""The word half of suggestion ranking: tokens, Porter stems, BM25F weights."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import random as sparse_random

from knowledge.bm25 import Analysed, Bm25F, Bm25Params, Vocabulary, column_sum, tokens
from knowledge.porter import stem

ROOT = Path(__file__).resolve().parents[2]


def sqlite_stems(words: list[str]) -> dict[str, str]:
    """What SQLite's FTS5 porter tokenizer makes of each word: the oracle."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'porter ascii')")
    db.executemany("INSERT INTO f (rowid, x) VALUES (?, ?)", enumerate(words, 1))
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, instance)")
    return {words[doc - 1]: term for term, doc in db.execute("SELECT term, doc FROM v")}


def test_porter_stems_as_sqlite_fts5_does_on_the_docs_vocabulary() -> None:
    text = " ".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    words = sorted(set(re.findall(r"[a-z]+", text.lower())))
    assert len(words) > 2000
    expected = sqlite_stems(words)
    assert {w: stem(w) for w in words} == expected


@given(
    st.lists(
        st.builds(
            lambda root, suffix: root + suffix,
            st.text("abcdeilmnorstuvz", min_size=2, max_size=9),
            st.sampled_from(
                [
                    "",
                    "s",
                    "es",
                    "ies",
                    "ed",
                    "ing",
                    "ational",
                    "ization",
                    "ness",
                    "fulness",
                    "ement",
                    "ion",
                    "ly",
                    "bli",
                    "logi",
                    "eed",
                    "ize",
                    "e",
                    "ll",
                    "y",
                    "ical",
                ]
            ),
        ),
        min_size=1,
        max_size=50,
        unique=True,
    )
)
def test_porter_agrees_with_sqlite_on_made_up_words(words: list[str]) -> None:
    words = [w for w in words if len(w) > 3]  # FTS5 differs on 3-letter "ies"/"eed"
    assert {w: stem(w) for w in words} == sqlite_stems(words)


def test_tokens_stem_read_not_and_drop_only_greetings() -> None:
    assert tokens("Hi! My card hasn't arrived") == ["my", "card", "ha", "not", "arriv"]
    assert tokens("The arrival of cards") == ["arriv", "of", "card"]
    assert tokens("why WON'T it work") == ["why", "wo", "not", "it", "work"]


def weights(docs: list[tuple[str, str, str]], params: Bm25Params) -> tuple[Bm25F, Vocabulary]:
    vocabulary = Vocabulary()
    analysed = [Analysed.of(vocabulary, *d) for d in docs]
    return Bm25F(analysed, vocabulary, params), vocabulary


def test_a_title_match_outweighs_a_body_match_and_rare_words_outweigh_common() -> None:
    index, _ = weights(
        [
            ("Fees", "", "card limits and fees"),
            ("Card limit", "", "how to change it"),
            ("Address", "", "move house"),
        ],
        Bm25Params(),
    )
    scores = index.scores("what is my card limit")
    assert scores[1] > scores[0] > 0 and scores[2] == 0
    assert index.scores("nothing shared").tolist() == [0, 0, 0]


def test_terms_added_to_the_vocabulary_after_a_build_are_ignored_by_it() -> None:
    index, vocabulary = weights([("Refund", "", "refunds")], Bm25Params())
    Analysed.of(vocabulary, "brand new words", "", "")
    assert index.scores("brand new refund").tolist() == index.scores("refund").tolist()


@given(st.integers(1, 40), st.integers(1, 60), st.lists(st.integers(0, 59), max_size=20))
def test_column_sum_equals_scipy(rows: int, cols: int, picked: list[int]) -> None:
    matrix = sparse_random(rows, cols, density=0.3, format="csc", dtype=np.float32, rng=1)
    wanted = np.array(sorted({c for c in picked if c < cols}), dtype=np.int64)
    weights_ = np.linspace(0.5, 2, len(wanted)).astype(np.float32)
    expected = np.asarray(matrix[:, wanted] @ weights_).ravel()
    assert np.allclose(column_sum(matrix, wanted, weights_), expected, atol=1e-5)
    assert np.allclose(
        column_sum(matrix, wanted), np.asarray(matrix[:, wanted].sum(axis=1)).ravel(), atol=1e-5
    )
