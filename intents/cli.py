"""`switchboard skills`: train a skill finder model, or try one.

    $ switchboard skills train examples.csv --out skill_finder.npz
    trained 77 intents on 10003 examples in 9.1 s -> skill_finder.npz
    $ echo "my card has not arrived" | switchboard skills classify skill_finder.npz
    {"intent": "card_arrival", "confidence": 0.9995}

With ``--encoder DIR`` (a local transformers model directory) both train and
classify over that model's embeddings: ``[skill_finder] backend =
"transformers"``.

`main` takes the arguments after ``skills`` and its streams as parameters,
so it can be called (and tested) without a subprocess. Exit status: 0 on
success, 1 when the examples or the model cannot be used, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from intents.embedded import EmbeddingIntentModel
from intents.encoder import Encoder
from intents.errors import SkillFinderError
from intents.model import IntentModel

DEFAULT_OUT = "skill_finder.npz"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard skills", description="The skill finder's intent model."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a model from a CSV of labelled examples (columns text,label)",
    )
    train.add_argument("examples", help="CSV file with a header: text,label")
    train.add_argument("--out", default=DEFAULT_OUT, help=f"model file (default {DEFAULT_OUT})")
    train.add_argument("--c", type=float, default=0.5, help="SVM regularisation (default 0.5)")
    classify = commands.add_parser(
        "classify", help="classify each line of standard input with a model; one JSON line each"
    )
    classify.add_argument("model", help="model file from `switchboard skills train`")
    for command in (train, classify):
        command.add_argument(
            "--encoder",
            metavar="DIR",
            help="a local transformers model directory: classify its embeddings"
            " (backend 'transformers'); never downloads",
        )
    return parser


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "train":
            from intents.training import TrainingOptions, read_examples, train, train_on_encoder

            if args.c <= 0:
                print("error: --c must be positive", file=sys.stderr)
                return 2
            started = time.perf_counter()
            texts, labels = read_examples(args.examples)
            model: IntentModel | EmbeddingIntentModel
            options = TrainingOptions(c=args.c)
            if args.encoder is not None:
                model = train_on_encoder(texts, labels, Encoder(args.encoder), options)
            else:
                model = train(texts, labels, options)
            model.save(args.out)
            took = time.perf_counter() - started
            print(
                f"trained {len(model.classes)} intents on {len(texts)} examples"
                f" in {took:.1f} s -> {args.out}",
                file=stdout,
            )
            return 0
        if args.encoder is not None:
            model = EmbeddingIntentModel.load(args.model, Encoder(args.encoder))
        else:
            model = IntentModel.load(args.model)
        for line in stdin:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            found = model.classify(text)
            out = {"intent": found.intent, "confidence": round(found.confidence, 4)}
            print(json.dumps(out), file=stdout)
        return 0
    except (SkillFinderError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
