"""Words of a query, full-text queries that cannot fail, and snippets.

A search box takes anything: FTS syntax (``NEAR(``, ``"``, ``*``, ``-``,
``OR``), very long input, nothing at all. Only word characters go into a
full-text query, each term quoted (SQLite FTS5) or joined with ``or``
(PostgreSQL's ``websearch_to_tsquery``), and only the first ``MAX_TERMS``:
a query is always valid and always bounded.
"""

from __future__ import annotations

import html
import re

MAX_QUERY_CHARS = 1000
SNIPPET_SCAN = 20_000
"""A snippet shows the first match in this many characters (or the start):
a 100 KB article costs no more than a 20 KB one."""
MAX_TERMS = 32
MAX_TERM_CHARS = 64
_WORD = re.compile(r"\w+", re.UNICODE)
_OPERATORS = frozenset({"or", "and", "not", "near"})
_STOP_WORDS_TEXT = """
    a about above after again against all am an any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor now of off on once only other
    our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours yourself
    yourselves hello hi hey please thanks thank im ive dont cant"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
"""Words that say nothing about what a customer wants. Kept here rather than
taken from scikit-learn so a search does not load it."""


def terms(query: str, limit: int = MAX_TERMS) -> list[str]:
    """Distinct lower-case words of ``query``, in order, at most ``limit``;
    English stop words are left out unless nothing else is left."""
    words = _words(query)
    content = [w for w in words if w not in STOP_WORDS]
    return (content or words)[:limit]


def _words(query: str) -> list[str]:
    found: dict[str, None] = {}
    for word in _WORD.findall(query[:MAX_QUERY_CHARS].lower()):
        word = word.strip("_")[:MAX_TERM_CHARS]
        if not word or word in _OPERATORS:
            continue
        found.setdefault(word, None)
    return list(found)


def fts5_match(words: list[str]) -> str:
    """An FTS5 MATCH expression: any of the words (ranking sorts it out)."""
    return " OR ".join(f'"{w}"' for w in words)


def websearch(words: list[str]) -> str:
    """A ``websearch_to_tsquery`` input: any of the words."""
    return " or ".join(words)


def _stem(word: str) -> str:
    # Cheap prefix match so "refunds" lights up "refund" and "refunded".
    return word if len(word) <= 4 else word[: max(4, len(word) - 3)]


def snippet(text: str, words: list[str], width: int = 180) -> tuple[str, str]:
    """A window of ``text`` around the first word found, as plain text and as
    HTML with the words in ``<mark>`` (everything else escaped)."""
    stems = sorted({_stem(w) for w in words if w}, key=len, reverse=True)
    # One compiled alternation, searched in C: a word of the text matches when
    # it starts with a stem. Only the window is scanned for marks, so a long
    # article costs no more than a short one once the first match is found.
    found = (
        re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + r")\w*", re.IGNORECASE)
        if stems
        else None
    )
    first = found.search(text, 0, SNIPPET_SCAN) if found is not None else None
    start = 0
    if first is not None:
        start = max(0, first.start() - width // 3)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
    end = min(len(text), start + width)
    while end < len(text) and not text[end].isspace() and end - start < width + 30:
        end += 1
    lead = "…" if start > 0 else ""
    tail = "…" if end < len(text) else ""
    plain = lead + text[start:end] + tail
    parts, at = [], start
    for m in found.finditer(text, start, end) if found is not None else ():
        s, e = m.span()
        if e > end:
            continue
        parts.append(html.escape(text[at:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        at = e
    parts.append(html.escape(text[at:end]))
    return plain, lead + "".join(parts) + tail
