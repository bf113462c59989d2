"""Suggested-article accuracy and latency, as smart assist ranks them.

On BANKING77 (../shared/data/intents/), each intent is one article: its name
and some training messages (``--per-article``, default 10; 0 for all of the
fold's) are its text. The held-out messages are the customer messages; the
suggestion is right when the intent's article is ranked first (top-1) or in
the first three (top-3). 5-fold cross-validation, stratified by intent.

Ranked by:
- ``bm25f-memory``: what the server ranks suggestions with, the in-memory
  BM25F index of live articles (``knowledge.bm25``).
- ``fts5-bm25``: what staff and public search do on SQLite: the same query words
  (``knowledge.text.terms``), an FTS5 table with porter stemming, BM25 with
  the store's column weights; in memory.
- ``keywords`` (baseline): plain keyword matching, the number of the
  message's words the article contains.

Then the latency of one suggestion query at 10,000 synthetic articles, p50
and p99: topical ones (an intent's name and 8 of its messages each) and a
worst case of uniformly random words.

Usage: .venv/bin/python bench/knowledge_suggest.py [--data DIR] [--per-article N]
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import statistics
import time
from collections import defaultdict
from pathlib import Path

from knowledge.bm25 import Bm25Index, Entry
from knowledge.text import fts5_match, terms

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "intents"
FOLDS = 5


def load(data: Path) -> list[tuple[str, str]]:
    with (data / "banking77_train.csv").open(newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def folds(rows: list[tuple[str, str]], k: int, seed: int = 7) -> list[list[int]]:
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, (_, intent) in enumerate(rows):
        by_intent[intent].append(i)
    rng = random.Random(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    for members in by_intent.values():
        rng.shuffle(members)
        for j, i in enumerate(members):
            out[j % k].append(i)
    return out


class Fts:
    def __init__(self, articles: dict[str, str]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5("
            "title, body, keywords, tokenize = 'porter unicode61')"
        )
        self.names = list(articles)
        self.db.executemany(
            "INSERT INTO article_fts (rowid, title, body, keywords) VALUES (?, ?, ?, '')",
            [
                (i + 1, name.replace("_", " "), text)
                for i, (name, text) in enumerate(articles.items())
            ],
        )

    def rank(self, message: str, limit: int = 3) -> list[str]:
        words = terms(message[-1000:])
        if not words:
            return []
        rows = self.db.execute(
            "SELECT rowid FROM article_fts WHERE article_fts MATCH ? "
            "ORDER BY bm25(article_fts, 10.0, 1.0, 5.0) LIMIT ?",
            (fts5_match(words), limit),
        ).fetchall()
        return [self.names[r[0] - 1] for r in rows]


class Memory:
    """What the server ranks suggestions with: ``knowledge.bm25.Bm25Index``."""

    def __init__(self, articles: dict[str, str]) -> None:
        self.index = Bm25Index(
            [Entry(name, name.replace("_", " "), "", text) for name, text in articles.items()]
        )

    def rank(self, message: str, limit: int = 3) -> list[str]:
        return [e.id for e, _ in self.index.query(message, k=limit)]


class Keywords:
    def __init__(self, articles: dict[str, str]) -> None:
        self.vocab = {
            name: set(terms(name.replace("_", " ") + " " + text, limit=10**6))
            for name, text in articles.items()
        }

    def rank(self, message: str, limit: int = 3) -> list[str]:
        words = set(terms(message))
        scored = sorted(self.vocab, key=lambda n: -len(words & self.vocab[n]))
        return scored[:limit]


def evaluate(rows: list[tuple[str, str]], per_article: int) -> dict[str, tuple[float, float]]:
    hits: dict[str, list[int]] = {"bm25f-memory": [0, 0], "fts5-bm25": [0, 0], "keywords": [0, 0]}
    total = 0
    parts = folds(rows, FOLDS)
    for held in parts:
        held_set = set(held)
        texts: dict[str, list[str]] = defaultdict(list)
        for i, (text, intent) in enumerate(rows):
            if i not in held_set:
                texts[intent].append(text)
        articles = {
            intent: " ".join(msgs if per_article == 0 else msgs[:per_article])
            for intent, msgs in texts.items()
        }
        rankers = {
            "bm25f-memory": Memory(articles),
            "fts5-bm25": Fts(articles),
            "keywords": Keywords(articles),
        }
        for i in held:
            text, intent = rows[i]
            total += 1
            for name, ranker in rankers.items():
                top = ranker.rank(text)
                hits[name][0] += top[:1] == [intent]
                hits[name][1] += intent in top
    return {name: (h[0] / total, h[1] / total) for name, h in hits.items()}


def latency(
    rows: list[tuple[str, str]],
    *,
    topical: bool,
    memory: bool,
    n_articles: int = 10_000,
    queries: int = 2_000,
) -> tuple[float, float]:
    """p50 and p99 in ms of one suggestion query over ``n_articles``.

    ``topical``: each synthetic article is an intent's name and 8 of its
    messages, so words cluster by subject as in a real knowledge base.
    Otherwise each is 120 words drawn uniformly from the whole vocabulary:
    a worst case where a query matches about half of all articles."""
    rng = random.Random(3)
    if topical:
        by_intent: dict[str, list[str]] = defaultdict(list)
        for text, intent in rows:
            by_intent[intent].append(text)
        intents = sorted(by_intent)
        articles = {}
        for i in range(n_articles):
            intent = intents[i % len(intents)]
            picked = rng.sample(by_intent[intent], 8)
            articles[f"{intent}#{i}"] = " ".join(picked)
    else:
        vocab = sorted({w for text, _ in rows for w in terms(text, limit=10**6)})
        articles = {f"a{i}": " ".join(rng.choices(vocab, k=120)) for i in range(n_articles)}
    ranker = Memory(articles) if memory else Fts(articles)
    samples = []
    for text, _ in rng.sample(rows, queries):
        start = time.perf_counter()
        ranker.rank(text, limit=5)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-article", type=int, default=10)
    args = parser.parse_args()
    rows = load(args.data)
    print(
        f"BANKING77: {len(rows)} messages, {len({c for _, c in rows})} intents, "
        f"{FOLDS}-fold cross-validation"
    )
    for per in dict.fromkeys([args.per_article, 0]):
        label = "all fold messages" if per == 0 else f"{per} messages"
        results = evaluate(rows, per)
        print(f"\narticle = intent name + {label}")
        print(f"{'ranker':<13} {'top-1':>7} {'top-3':>7}")
        for name, (top1, top3) in results.items():
            print(f"{name:<13} {top1:>7.1%} {top3:>7.1%}")
        base = results["keywords"]
        for name in ("bm25f-memory", "fts5-bm25"):
            ours = results[name]
            print(
                f"ratio {name}/keywords: top-1 {ours[0] / base[0]:.2f}x, "
                f"top-3 {ours[1] / base[1]:.2f}x"
            )
    print("\none suggestion query at 10,000 articles (target p99 < 20 ms)")
    for memory, ranker in ((True, "bm25f-memory"), (False, "fts5-bm25")):
        for topical, kind in ((True, "topical articles"), (False, "uniform random words")):
            p50, p99 = latency(rows, topical=topical, memory=memory)
            print(f"  {ranker:<13} {kind:<22} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


if __name__ == "__main__":
    main()
