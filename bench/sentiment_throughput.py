"""Messages scored per second on one core, per backend, against plain VADER.

Scores the same messages with plain VADER (the baseline), our lexicon and a
transformers model (--model PATH, or else a tiny model built here, which
measures the pipeline's overhead rather than a real model's cost), pinned to
one CPU with torch and ONNX Runtime limited to one thread. Messages come from
../shared/data/sentiment/tweets_GroundTruth.tsv when present, else from a
built-in set of chat messages.

Usage: .venv/bin/python bench/sentiment_throughput.py [--model PATH] [--seconds S]
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import tempfile
import time
from pathlib import Path

from sentiment import get_scorer
from sentiment.scorer import Scorer

TWEETS = Path(__file__).resolve().parents[2] / "shared/data/sentiment/tweets_GroundTruth.tsv"
CHAT = [
    "Hi, I have a question about my bill",
    "I am STILL waiting for my refund, this is the third time I ask!!",
    "thanks so much, that fixed it \U0001f64f",
    "WHERE IS MY ORDER???",
    "ok",
    "the app keeps crashing when I open settings \U0001f621",
    "Could you help me change the delivery address please?",
    "Great service, you guys rock \U0001f44d",
]


def messages() -> tuple[list[str], str]:
    if TWEETS.is_file():
        lines = TWEETS.read_text(encoding="utf-8").splitlines()
        return [html.unescape(line.split("\t", 2)[2]) for line in lines if line.strip()], "tweets"
    return CHAT * 500, "built-in chat messages (../shared absent)"


def rate(scorer: Scorer, texts: list[str], seconds: float, batch: int) -> float:
    scorer.score_batch(texts[:batch])  # warm up
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        start = done % len(texts)
        chunk = texts[start : start + batch] or texts[:batch]
        scorer.score_batch(chunk)
        done += len(chunk)
    return done / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local transformers model directory")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per backend")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts, source = messages()
    print(f"{len(texts)} messages from {source}; one core; {args.seconds:.0f}s per backend")

    scorers: list[tuple[str, Scorer]] = [
        ("vader (baseline)", get_scorer("vader")),
        ("lexicon", get_scorer("lexicon")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        try:
            import torch

            torch.set_num_threads(1)
            if model is None:
                from sentiment.testing import build_tiny_model

                model = str(build_tiny_model(Path(tmp) / "tiny", onnx=True))
            label = "transformers" + ("" if args.model else " (tiny model)")
            from sentiment.transformer import TransformerScorer

            scorers.append((f"{label}, torch", TransformerScorer(model, use_onnx=False)))
            if (Path(model) / "model.onnx").is_file():
                scorers.append((f"{label}, onnx", TransformerScorer(model, threads=1)))
        except ImportError:
            print("transformers backend skipped: torch/transformers not installed")

        base = 0.0
        print(f"{'backend':<34}{'messages/s':>12}{'vs vader':>10}")
        for name, scorer in scorers:
            per_second = rate(scorer, texts, args.seconds, args.batch)
            base = base or per_second
            print(f"{name:<34}{per_second:>12,.0f}{per_second / base:>9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
