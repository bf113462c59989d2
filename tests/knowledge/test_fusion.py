"""Suggestions fused with sentence embeddings: reciprocal rank fusion, and
the index ranking with a fake embedding function (no model)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.fusion import RRF_K, reciprocal_rank_fusion
from knowledge.suggest import DENSE_DEPTH, Entry, SuggestionIndex

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

CONCEPTS = {
    "refund": ("refund", "money back", "reimburse"),
    "card": ("card", "arrive", "delivery", "post"),
    "pin": ("pin", "code", "locked"),
    "fee": ("fee", "charge", "commission"),
}


class FakeEncoder:
    """Embeds a text as the unit sum of the concepts its words belong to,
    as a sentence model would place paraphrases together; counts calls."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        rows = np.full((len(texts), len(CONCEPTS) + 1), 1e-3, dtype=np.float32)
        for i, text in enumerate(texts):
            for j, cues in enumerate(CONCEPTS.values()):
                rows[i, j] += sum(text.lower().count(cue) for cue in cues)
        unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return unit


def ids(found: list[tuple[Entry, float]]) -> list[str]:
    return [e.id for e, _ in found]


ENTRIES = [
    Entry("refunds", "Refunds", "", "How to ask for a refund of a purchase."),
    Entry("cards", "Card delivery", "", "When a new card will arrive by post."),
    Entry("pins", "Unblock your PIN", "", "Your PIN code is locked after three tries."),
    Entry("fees", "Fees", "", "Every fee and commission we charge."),
]


def test_fusion_scores_by_rank_with_the_documented_constant() -> None:
    fused = reciprocal_rank_fusion([np.array([2, 0]), np.array([0, 1])], 4)
    scale = (RRF_K + 1) / 2
    assert fused[0] == pytest.approx(scale * (1 / (RRF_K + 2) + 1 / (RRF_K + 1)))
    assert fused[2] == pytest.approx(scale / (RRF_K + 1))
    assert fused[1] == pytest.approx(scale / (RRF_K + 2))
    assert fused[3] == 0
    assert reciprocal_rank_fusion([np.array([1]), np.array([1])], 2).tolist() == [0, 1]
    assert reciprocal_rank_fusion([], 3).tolist() == [0, 0, 0]


def test_an_article_high_in_both_rankings_beats_one_first_in_one_and_last_in_the_other() -> None:
    # A (0) is second in both; B (1) first by words but last of four by embeddings.
    fused = reciprocal_rank_fusion([np.array([1, 0, 2, 3]), np.array([3, 0, 2, 1])], 4)
    assert int(np.argmax(fused)) == 0
    assert fused[0] > fused[1] > 0


@given(
    st.lists(st.permutations(list(range(8))), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=8),
)
def test_fusion_never_ranks_an_article_dominated_in_every_ranking_higher(
    orders: list[list[int]], depth: int
) -> None:
    rankings = [np.array(order[:depth]) for order in orders]
    fused = reciprocal_rank_fusion(rankings, 8)
    assert fused.max() <= 1 + 1e-9
    position = [{row: r for r, row in enumerate(order[:depth])} for order in orders]
    for a in range(8):
        for b in range(8):
            if all(a in p and (b not in p or p[a] < p[b]) for p in position):
                assert fused[a] >= fused[b]


def test_embeddings_find_a_paraphrase_that_shares_no_word_with_its_article() -> None:
    fake = FakeEncoder()
    lexical = SuggestionIndex(ENTRIES)
    fused = SuggestionIndex(ENTRIES, embed=fake.embed)
    message = "I want my money back on the shoes"
    assert lexical.query(message, k=3) == []
    assert lexical.query_vector(message) is None  # no encoder
    vector = fused.query_vector(message)
    assert vector is not None
    assert ids(fused.query(message, k=3, vector=vector))[0] == "refunds"
    assert fused.query(message, k=3) == []  # no vector given: lexical, as before


def test_words_and_embeddings_agreeing_outrank_words_alone() -> None:
    entries = [
        Entry("fees", "Card fees", "", "card card card: every fee, charge and commission"),
        Entry("cards", "Card delivery", "", "when a new card will arrive by post"),
        Entry("pins", "PIN", "", "card delivery by post, and the pin"),
    ]
    message = "my card card has not come"
    # Words alone: "card" most often in the fees article; by meaning it is last.
    assert ids(SuggestionIndex(entries).query(message, k=3)) == ["fees", "cards", "pins"]
    index = SuggestionIndex(entries, embed=FakeEncoder().embed)
    vector = index.query_vector(message)
    assert vector is not None
    assert index._vectors is not None
    # einsum as the index does: OpenBLAS's threaded product (``@``) has been
    # seen to leave a spurious "invalid value" flag (numpy#24067), an error here.
    cosine = np.einsum("ij,j->i", index._vectors, vector)
    assert np.argsort(-cosine).tolist() == [1, 2, 0]
    found = index.query(message, k=3, vector=vector)
    assert ids(found) == ["cards", "fees", "pins"]  # 2nd and 1st beat 1st and 3rd
    assert 1 >= found[0][1] > found[1][1] > found[2][1] > 0


def test_greetings_alone_get_nothing_even_with_embeddings() -> None:
    index = SuggestionIndex(ENTRIES, embed=FakeEncoder().embed)
    assert index.query_vector("hi, hello!") is None
    assert index.query_vector("") is None


def test_articles_not_live_or_in_another_language_are_not_brought_by_embeddings() -> None:
    fake = FakeEncoder()
    entries = [
        Entry("later", "Refunds", "", "refund", publish_at=NOW + timedelta(hours=1)),
        Entry("french", "Remboursement", "", "refund", language="fr"),
        Entry("cards", "Card delivery", "", "new card by post"),
    ]
    index = SuggestionIndex(entries, embed=fake.embed)
    vector = index.query_vector("money back please")
    assert vector is not None
    found = ids(index.query("money back please", k=3, now=NOW, language="en", vector=vector))
    assert found == ["cards"]  # the only eligible one, however far


def test_the_cosine_ranking_brings_at_most_its_depth_of_articles() -> None:
    entries = [Entry(f"a{i}", f"Article {i}", "", "unrelated text") for i in range(80)]
    index = SuggestionIndex(entries, embed=FakeEncoder().embed)
    vector = index.query_vector("money back")
    assert vector is not None
    assert np.count_nonzero(index.fused("money back", vector)) == DENSE_DEPTH


def test_a_rebuild_embeds_only_new_or_edited_articles_and_ranks_as_a_fresh_build() -> None:
    fake = FakeEncoder()
    first = SuggestionIndex(ENTRIES, embed=fake.embed)
    assert len(fake.embedded) == len(ENTRIES)
    edited = [*ENTRIES[:3], Entry("fees", "Fees", "", "Every charge, and refunds of it.")]
    again = SuggestionIndex(edited, previous=first, embed=fake.embed)
    assert fake.embedded[len(ENTRIES) :] == ["Fees\nEvery charge, and refunds of it."]
    fresh = SuggestionIndex(edited, embed=FakeEncoder().embed)
    for text in ("money back", "where is my card", "pin locked"):
        vector = fresh.query_vector(text)
        assert vector is not None
        assert np.allclose(again.fused(text, vector), fresh.fused(text, vector))
    other = FakeEncoder()
    SuggestionIndex(edited, previous=first, embed=other.embed)
    assert len(other.embedded) == len(edited)  # another encoder: all embedded again
