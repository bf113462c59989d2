"""The index that suggests live articles: fused ranking, filters, rebuilds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from knowledge.chargrams import CharIndex, counts, profile
from knowledge.suggest import Entry, SuggestionIndex, SuggestParams

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def ids(found: list[tuple[Entry, float]]) -> list[str]:
    return [e.id for e, _ in found]


def test_title_matches_rank_above_body_matches_and_nothing_shared_is_nothing() -> None:
    index = SuggestionIndex(
        [
            Entry("body", "Fees", "", "Card limits and fees are listed here among other things"),
            Entry("title", "Card limit", "", "How to change it"),
            Entry("other", "Address", "", "Move house"),
        ]
    )
    assert ids(index.query("what is my card limit?", k=3)) == ["title", "body"]
    assert index.query("nothing in common", k=3) == []
    assert index.query("", k=3) == []
    assert SuggestionIndex([]).query("refund") == []


def test_characters_break_a_tie_words_cannot() -> None:
    # A misspelt word matches no word, but its letters are those of one article.
    entries = [
        Entry("send", "Send money", "", "how to send a transfer"),
        Entry("receive", "Receive money", "", "how to receive a transfer"),
    ]
    message = "how do i recieve a money transfer"
    words_only = SuggestionIndex(entries, params=SuggestParams(char_weight=0.0))
    assert words_only.scores(message).tolist() == [1.0, 1.0]
    fused = SuggestionIndex(entries)
    assert ids(fused.query(message, k=2)) == ["receive", "send"]


def test_articles_not_live_at_now_or_in_another_language_are_left_out() -> None:
    index = SuggestionIndex(
        [
            Entry("later", "Refund", "", "refund", publish_at=NOW + timedelta(hours=1)),
            Entry("gone", "Refund", "", "refund", expires_at=NOW),
            Entry("live", "Refund policy", "", "refund", publish_at=NOW - timedelta(days=1)),
            Entry("french", "Refund", "", "refund", language="fr-CA"),
        ]
    )
    assert set(ids(index.query("refund", k=5, now=NOW))) == {"french", "live"}
    assert len(index.query("refund", k=5)) == 4
    assert ids(index.query("refund", k=5, now=NOW, language="fr")) == ["french"]
    assert set(ids(index.query("refund", k=5, now=NOW, language="en-GB"))) == {"live"}
    # Filters apply before the top-k: the best one left is found whatever outranks it.
    assert ids(index.query("refund", k=1, language="fr")) == ["french"]


def test_a_rebuild_reuses_what_it_analysed_and_ranks_as_a_fresh_build() -> None:
    first = SuggestionIndex(
        [Entry("a", "Card arrival", "", "when will my card arrive"), Entry("b", "Fees", "", "x")]
    )
    entries = [
        Entry("a", "Card arrival", "", "when will my card arrive"),
        Entry("c", "Lost card", "stolen", "block a lost or stolen card"),
    ]
    again = SuggestionIndex(entries, previous=first)
    fresh = SuggestionIndex(entries)
    key = ("a", "Card arrival", "", "when will my card arrive")
    assert again._analysed[key][0] is first._analysed[key][0]  # words not analysed again
    for text in ("my card was stolen", "card has not arrived", "fees"):
        assert np.allclose(again.scores(text), fresh.scores(text))


def test_character_cosine_is_one_for_the_same_text_and_counts_every_gram() -> None:
    index = CharIndex([profile(t) for t in ("block a stolen card", "change my address", "card")])
    scores = index.scores("block a stolen card", np.array([0, 1, 2]))
    assert abs(scores[0] - 1) < 1e-5 and scores[0] > scores[2] > scores[1] >= 0
    assert index.scores("block a stolen card", np.array([2, 0])).tolist() == [
        scores[2],
        scores[0],
    ]
    # " card " padded: 3-grams " ca", "car", "ard", "rd " and 4-grams " car", "card", "ard ".
    assert counts(["card"]).sum() == 7
    assert counts([""]).sum() == 0
    assert CharIndex([]).scores("anything", np.array([], dtype=np.int64)).tolist() == []
    # " card card ": " ca", "car", "ard", "rd ", " car", "card", "ard " twice
    # (1 + log 2), "d c", "rd c", "d ca" once.
    cols, weights = profile("card card")
    assert len(cols) == 10 and list(cols) == sorted(cols)
    assert [round(float(w), 3) for w in sorted(weights)] == [1.0] * 3 + [1.693] * 7


@given(st.lists(st.text("abc dé", max_size=30), min_size=1, max_size=8), st.text("abc dé"))
def test_character_scores_are_tf_idf_cosines(texts: list[str], q: str) -> None:
    """The scores equal the cosine of sublinear, smooth-idf TF-IDF vectors
    computed the plain way, with whole sparse matrices."""
    index = CharIndex([profile(t) for t in texts])
    raw = counts(texts).tocsr()
    idf = np.log((1 + len(texts)) / (1 + np.bincount(raw.indices, minlength=raw.shape[1]))) + 1
    raw.data = (1 + np.log(raw.data)) * idf[raw.indices]
    norms = np.sqrt(np.asarray(raw.multiply(raw).sum(axis=1)).ravel())
    query = counts([q]).tocsr()
    query.data = (1 + np.log(query.data)) * idf[query.indices]
    query_norm = np.sqrt(float(query.multiply(query).sum())) or 1.0
    rows = np.arange(len(texts))[::-1].copy()
    dots = np.asarray((raw @ query.T).todense()).ravel()
    expected = (dots / np.where(norms > 0, norms, 1) / query_norm)[rows]
    assert np.allclose(index.scores(q, rows), expected, atol=2e-3)
