"""The skill finder's intent accuracy against two baselines, on BANKING77.

5-fold stratified cross-validation over ../shared/data/intents/
banking77_train.csv (10,003 customer messages, 77 intents; Casanueva et al.
2020, CC BY 4.0). Each fold trains on four fifths and is measured on the
fifth it never saw. Printed, as mean ± standard deviation over the folds:

- the skill finder (``intents.training.train``, exactly what
  ``switchboard skills train`` fits, confidence calibration included), with
  ``intents.model.IntentModel.classify`` (what the server runs per message);
- a keyword-rule baseline: the most distinctive words of each intent in the
  training folds (what an operator would write as ``message contains``
  rules), scored by how many of an intent's keywords a message has;
- the majority baseline (always the most frequent intent).

Also: training time, per-message classification time, and the share of
messages at or above some ``min_confidence`` values with their accuracy.

Usage: .venv/bin/python bench/skill_finder.py [--data CSV] [--folds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from intents.features import words
from intents.training import read_examples, train

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "intents" / "banking77_train.csv"
)
KEYWORDS_PER_INTENT = 8
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


class KeywordRules:
    """Per intent, the words that mark it best: frequent in the intent's
    examples and rare elsewhere (document frequency times log lift)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        per_class: dict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        sizes = Counter(labels)
        for text, label in zip(texts, labels, strict=True):
            seen = set(words(text))
            per_class[label].update(seen)
            overall.update(seen)
        total = len(texts)
        self.keywords: dict[str, dict[str, float]] = {}
        for label, counts in per_class.items():
            scored = []
            for word, count in counts.items():
                share = count / sizes[label]
                lift = share / (overall[word] / total)
                if share >= 0.05 and lift > 1:
                    scored.append((share * math.log(lift), word))
            scored.sort(reverse=True)
            self.keywords[label] = {w: s for s, w in scored[:KEYWORDS_PER_INTENT]}
        self.fallback = sizes.most_common(1)[0][0]

    def classify(self, text: str) -> str:
        present = set(words(text))
        best, best_score = self.fallback, 0.0
        for label, keywords in self.keywords.items():
            score = sum(weight for word, weight in keywords.items() if word in present)
            if score > best_score:
                best, best_score = label, score
        return best


def spread(values: Sequence[float], scale: float = 100.0, unit: str = "%") -> str:
    mean = statistics.fmean(values) * scale
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:6.2f} ± {sd:4.2f}{unit}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"skip: {args.data} not found (needs ../shared/data/intents)")
        return 0
    texts, labels = read_examples(args.data)
    x, y = np.array(texts, dtype=object), np.array(labels)
    print(
        f"{len(texts)} messages, {len(set(labels))} intents, {args.folds}-fold stratified CV"
        f" ({args.data.name})"
    )
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    train_s: list[float] = []
    train_cpu_s: list[float] = []
    classify_us: list[float] = []
    coverage: dict[float, list[tuple[int, int, int]]] = defaultdict(list)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    for fold, (train_at, test_at) in enumerate(folds.split(x, y), start=1):
        train_texts, train_labels = list(x[train_at]), list(y[train_at])
        test_texts, truth = list(x[test_at]), list(y[test_at])
        started, cpu = time.perf_counter(), time.process_time()
        model = train(train_texts, train_labels)
        train_s.append(time.perf_counter() - started)
        train_cpu_s.append(time.process_time() - cpu)
        found = []
        for text in test_texts:
            started = time.perf_counter()
            found.append(model.classify(text))
            classify_us.append((time.perf_counter() - started) * 1e6)
        rules = KeywordRules(train_texts, train_labels)
        predictions = {
            "skill finder": [f.intent for f in found],
            "keyword rules": [rules.classify(t) for t in test_texts],
            "majority": [Counter(train_labels).most_common(1)[0][0]] * len(test_texts),
        }
        for name, predicted in predictions.items():
            results[name]["accuracy"].append(accuracy_score(truth, predicted))
            results[name]["macro_f1"].append(
                f1_score(truth, predicted, average="macro", zero_division=0)
            )
        for threshold in THRESHOLDS:
            kept = [
                (f.intent == t)
                for f, t in zip(found, truth, strict=True)
                if f.confidence >= threshold
            ]
            coverage[threshold].append((len(test_texts), len(kept), sum(kept)))
        acc = results["skill finder"]["accuracy"][-1]
        print(
            f"  fold {fold}: skill finder accuracy {acc:.2%}, trained in {train_s[-1]:.1f} s",
            flush=True,
        )

    print()
    print(f"{'':15} {'accuracy':>16} {'macro-F1':>16}")
    for name, figures in results.items():
        print(f"{name:15} {spread(figures['accuracy']):>16} {spread(figures['macro_f1']):>16}")
    finder, keyword = results["skill finder"], results["keyword rules"]
    print()
    ratio = statistics.fmean(finder["accuracy"]) / statistics.fmean(keyword["accuracy"])
    print(f"skill finder vs keyword rules: {ratio:.2f}x accuracy")
    print(
        f"training ({len(texts) * (args.folds - 1) // args.folds} messages, calibration included):"
        f" wall {spread(train_s, 1.0, ' s')}, CPU {spread(train_cpu_s, 1.0, ' s')}"
        "  (target < 60 s)"
    )
    classify_us.sort()
    median = classify_us[len(classify_us) // 2]
    p99 = classify_us[int(len(classify_us) * 0.99)]
    print(
        f"classification per message: median {median:.0f} µs, p99 {p99:.0f} µs,"
        f" mean {statistics.fmean(classify_us):.0f} µs  (target < 1000 µs)"
    )
    print()
    print("min_confidence  share classified  accuracy of those")
    for threshold, rows in coverage.items():
        n = sum(r[0] for r in rows)
        kept = sum(r[1] for r in rows)
        right = sum(r[2] for r in rows)
        print(f"{threshold:14.1f}  {kept / n:16.1%}  {right / max(kept, 1):17.1%}")
    mean_acc = statistics.fmean(finder["accuracy"])
    ok = mean_acc >= 0.88 and max(train_s) < 60 and median < 1000
    print()
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("targets met" if ok else "TARGETS MISSED (accuracy >= 88%, training < 60 s, < 1 ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
