"""Invitations shown, accepted and declined, per rule.

An invitation is *shown* when the server hands it to a widget (the widget
shows what it is given); *accepted* and *declined* are reported by the
widget. Counts live in the process (see docs/bots.md, "Proactive chat").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OUTCOMES = ("shown", "accepted", "declined")


class InvitationCounts:
    def __init__(self, rules: Iterable[str]) -> None:
        self._counts: dict[str, dict[str, int]] = {
            rule: dict.fromkeys(OUTCOMES, 0) for rule in rules
        }

    def record(self, rule: str, outcome: str) -> None:
        """Raises ``KeyError`` for an unknown rule and ``ValueError`` for an
        unknown outcome."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
        self._counts[rule][outcome] += 1

    def report(self) -> list[dict[str, Any]]:
        rows = []
        for rule, counts in self._counts.items():
            answered = counts["shown"]
            rows.append(
                {
                    "rule": rule,
                    **counts,
                    "acceptance_rate": round(counts["accepted"] / answered, 4)
                    if answered
                    else None,
                }
            )
        return rows
