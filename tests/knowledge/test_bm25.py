"""The in-memory BM25F index that ranks suggested articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge.bm25 import Bm25Index, Entry, stem, tokens

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_light_stemming_meets_plurals_and_tenses() -> None:
    assert stem("refunds") == stem("refund") == "refund"
    assert stem("charged") == "charg" and stem("charges") == "charge"
    assert stem("policies") == "policy"
    assert tokens("The refunds, please!") == ["refund"]


def test_title_matches_rank_above_body_matches() -> None:
    index = Bm25Index(
        [
            Entry("body", "Fees", "", "Card limits and fees are listed here among other things"),
            Entry("title", "Card limit", "", "How to change it"),
            Entry("other", "Address", "", "Move house"),
        ]
    )
    found = [e.id for e, _ in index.query("what is my card limit?", k=3)]
    assert found == ["title", "body"]
    assert index.query("nothing in common", k=3) == []
    assert index.query("", k=3) == []


def test_articles_not_live_at_now_are_left_out() -> None:
    index = Bm25Index(
        [
            Entry("later", "Refund", "", "refund", publish_at=NOW + timedelta(hours=1)),
            Entry("gone", "Refund", "", "refund", expires_at=NOW),
            Entry("live", "Refund policy", "", "refund", publish_at=NOW - timedelta(days=1)),
        ]
    )
    assert [e.id for e, _ in index.query("refund", k=5, now=NOW)] == ["live"]
    assert len(index.query("refund", k=5)) == 3


def test_an_empty_index_answers_nothing() -> None:
    assert Bm25Index([]).query("refund") == []
