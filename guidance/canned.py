"""Searching canned responses the way an agent types: a few letters of a
name, title, tag or text.

Each query token scores where it is found (name > title and tags > text, a
whole word over a part of one); a response must match every token. Ties keep
config order, so the operator's order is the default ranking.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from guidance.config import CannedConfig

_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _field_score(token: str, text: str, weight: float) -> float:
    words = _words(text)
    if token in words:
        return weight * 2
    if any(w.startswith(token) for w in words):
        return weight * 1.5
    if token in text.lower():
        return weight
    return 0.0


def search(
    canned: Sequence[CannedConfig], query: str, limit: int = 20
) -> list[tuple[CannedConfig, float]]:
    """Responses matching ``query`` (all of them for an empty query), best first."""
    tokens = _words(query)
    scored: list[tuple[float, int, CannedConfig]] = []
    for position, item in enumerate(canned):
        if not tokens:
            scored.append((0.0, position, item))
            continue
        total = 0.0
        for token in tokens:
            best = max(
                _field_score(token, item.name, 3.0),
                _field_score(token, item.title or "", 2.0),
                max((_field_score(token, tag, 2.0) for tag in item.tags), default=0.0),
                _field_score(token, item.text, 1.0),
            )
            if best == 0.0:
                break
            total += best
        else:
            if query.strip().lower() == item.name.lower():
                total += 10.0
            scored.append((total, position, item))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(item, score) for score, _, item in scored[:limit]]
