"""Accuracy of the sentiment backends against human ratings, side by side.

Reads the VADER paper's ground truth (../shared/data/sentiment/*.tsv: id, mean
human rating on -4..4, text) and reports, per file and overall, for plain
VADER (the baseline), our lexicon backend and, given --model, a transformers
model:

- Pearson r between the score and the mean rating, over all items;
- binary accuracy (sign of score vs sign of rating) over items with
  |rating| >= 0.5, where a score of 0 reads as "not positive" (the
  convention that reproduces the figures in the data's README).

Usage: .venv/bin/python bench/sentiment_accuracy.py [--data DIR] [--model PATH]
"""

from __future__ import annotations

import argparse
import html
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sentiment import get_scorer
from sentiment.scorer import Scorer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"
POLAR = 0.5


@dataclass(frozen=True)
class Item:
    rating: float
    text: str


@dataclass(frozen=True)
class Figures:
    items: int
    pearson: float
    polar: int
    accuracy: float


def load(path: Path) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        _id, rating, text = line.split("\t", 2)
        items.append(Item(float(rating), html.unescape(text)))
    return items


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else float("nan")


def measure(ratings: Sequence[float], scores: Sequence[float]) -> Figures:
    polar = [(r, s) for r, s in zip(ratings, scores, strict=True) if abs(r) >= POLAR]
    right = sum(1 for r, s in polar if (s > 0) == (r > 0))
    return Figures(len(ratings), pearson(ratings, scores), len(polar), right / len(polar))


def score_all(scorer: Scorer, texts: Sequence[str], batch: int = 64) -> list[float]:
    scores: list[float] = []
    for start in range(0, len(texts), batch):
        scores.extend(s.score for s in scorer.score_batch(texts[start : start + batch]))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", help="a local transformers model directory to add")
    args = parser.parse_args(argv)

    files = sorted(args.data.glob("*.tsv")) if args.data.is_dir() else []
    if not files:
        print(f"ground truth absent: no *.tsv under {args.data}; nothing to measure.")
        print("(It lives outside the repository, in ../shared/data/sentiment.)")
        return 0

    scorers: list[Scorer] = [get_scorer("vader"), get_scorer("lexicon")]
    if args.model:
        scorers.append(get_scorer("transformers", args.model))

    data = {path.stem.replace("_GroundTruth", ""): load(path) for path in files}
    all_ratings = [item.rating for items in data.values() for item in items]
    results: dict[str, dict[str, Figures]] = {}
    overall: dict[str, Figures] = {}
    for scorer in scorers:
        started = time.perf_counter()
        all_scores: list[float] = []
        for name, items in data.items():
            scores = score_all(scorer, [item.text for item in items])
            all_scores.extend(scores)
            results.setdefault(name, {})[scorer.name] = measure(
                [item.rating for item in items], scores
            )
        overall[scorer.name] = measure(all_ratings, all_scores)
        print(
            f"scored {len(all_scores)} items with {scorer.name} in "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    results["overall"] = overall

    names = [scorer.name for scorer in scorers]
    header = f"{'file':<22}{'items':>7}{'polar':>7}"
    for name in names:
        header += f"{name + ' r':>16}{name + ' acc':>16}"
    print(header)
    for file, by_scorer in results.items():
        first = by_scorer[names[0]]
        row = f"{file:<22}{first.items:>7}{first.polar:>7}"
        for name in names:
            figures = by_scorer[name]
            row += f"{figures.pearson:>16.3f}{figures.accuracy:>16.3f}"
        print(row)
    base = overall["vader"]
    for name in names[1:]:
        figures = overall[name]
        print(
            f"{name} vs vader overall: r {figures.pearson - base.pearson:+.3f}, "
            f"accuracy {figures.accuracy - base.accuracy:+.3f}"
        )
        for file, by_scorer in results.items():
            if file == "overall":
                continue
            mine, theirs = by_scorer[name], by_scorer["vader"]
            if mine.pearson < theirs.pearson or mine.accuracy < theirs.accuracy:
                print(
                    f"  note: {name} is below vader on {file} "
                    f"(r {mine.pearson - theirs.pearson:+.3f}, "
                    f"accuracy {mine.accuracy - theirs.accuracy:+.3f})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
