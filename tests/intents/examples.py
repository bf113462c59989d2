"""A small labelled set of customer messages, written for these tests
(the tests never read ../shared): four intents, each from a few templates
filled with a few variants, so the classifier has something to learn and
held-out phrasings to be judged on."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

TEMPLATES = {
    "card_arrival": [
        "my {card} has not arrived {when}",
        "when will my {card} arrive",
        "still waiting for the {card} you sent {when}",
        "the {card} never came in the post",
        "is my {card} on its way? ordered it {when}",
    ],
    "lost_card": [
        "I lost my {card} {when}",
        "my {card} was stolen {when}",
        "someone took my wallet with the {card}",
        "please block my {card}, I can't find it",
        "I think I dropped my {card} somewhere",
    ],
    "refund": [
        "I want a refund for {thing}",
        "please give me my money back for {thing}",
        "how do I get reimbursed for {thing}",
        "{thing} was charged twice, refund me",
        "can I return {thing} and get a refund",
    ],
    "opening_hours": [
        "what time do you open {day}",
        "are you open {day}",
        "when does the branch close {day}",
        "opening hours for {day} please",
        "is the office open on {day}",
    ],
}
SLOTS = {
    "card": ["card", "debit card", "new card", "credit card"],
    "when": ["yet", "after two weeks", "since monday", "last week"],
    "thing": ["my order", "the shoes", "a subscription", "the broken phone"],
    "day": ["on saturday", "tomorrow", "on sunday", "on holidays"],
}

HELD_OUT = {
    "my card still hasn't arrived, it's been ages": "card_arrival",
    "I think my credit card got stolen on the train": "lost_card",
    "I'd like my money back for the jacket": "refund",
    "are you open on saturday?": "opening_hours",
}


def examples() -> list[tuple[str, str]]:
    rows = []
    for label, templates in TEMPLATES.items():
        for template in templates:
            names = [n for n in SLOTS if "{" + n + "}" in template]
            for values in itertools.islice(itertools.product(*(SLOTS[n] for n in names)), 8):
                rows.append((template.format(**dict(zip(names, values, strict=True))), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows if rows is not None else examples())
    return path
