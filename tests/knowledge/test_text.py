"""Query words and snippets: any input gives a valid, bounded query."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from knowledge.text import MAX_TERMS, fts5_match, snippet, terms, websearch


def test_operators_and_punctuation_do_not_reach_the_query() -> None:
    words = terms('NEAR("card" OR blocked*) -"stolen" AND ^lost')
    assert words == ["card", "blocked", "stolen", "lost"]
    assert fts5_match(words) == '"card" OR "blocked" OR "stolen" OR "lost"'
    assert websearch(words) == "card or blocked or stolen or lost"


def test_stop_words_are_dropped_unless_nothing_else_is_left() -> None:
    assert terms("How do I reset my password?") == ["reset", "password"]
    assert terms("the of") == ["the", "of"]


@given(st.text(max_size=5000))
def test_any_input_gives_few_short_word_terms(query: str) -> None:
    words = terms(query)
    assert len(words) <= MAX_TERMS
    assert all(w and len(w) <= 64 and '"' not in w for w in words)


def test_snippet_marks_the_words_and_escapes_the_rest() -> None:
    text = "Intro. " * 40 + "Refunds <b>are</b> processed within three days." + " Outro." * 40
    plain, marked = snippet(text, ["refund", "processing"])
    assert "Refunds" in plain and plain.startswith("…") and plain.endswith("…")
    assert "<mark>Refunds</mark>" in marked and "<mark>processed</mark>" in marked
    assert "<b>" not in marked and "&lt;b&gt;" in marked
