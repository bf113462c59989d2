"""`switchboard sentiment score`: score text from standard input, one JSON line each.

    $ printf 'thanks so much!\\nstill waiting...\\n' | switchboard sentiment score
    {"score": 0.6892, "label": "positive"}
    {"score": -0.4588, "label": "negative"}

`main` takes the arguments after ``sentiment``, and its streams as parameters
so that it can be called (and tested) without a subprocess. Exit status: 0 on
success, 1 when the scorer cannot be built or fails, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
from typing import TextIO

from sentiment.errors import SentimentError
from sentiment.registry import BACKENDS, get_scorer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard sentiment", description="Message sentiment tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser(
        "score",
        help="score one text per line of standard input",
        description="Read one text per line from standard input; write one JSON object "
        '({"score": -1..1, "label": "negative|neutral|positive"}) per line.',
    )
    score.add_argument("--backend", default="lexicon", help=f"one of: {', '.join(BACKENDS)}")
    score.add_argument("--model", help="local model directory (for --backend transformers)")
    score.add_argument("--language", help="language of the texts, e.g. en or es")
    score.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="lines scored together (default 64; 1 when standard input is a terminal)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the sentiment command line; returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    parser = _parser()
    # argparse prints help and usage errors to sys.stdout/sys.stderr and exits;
    # point it at our streams and turn its exit into a return value.
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 2
    batch_size: int = args.batch_size or (1 if stdin.isatty() else 64)
    if batch_size < 1:
        stderr.write("switchboard sentiment: error: --batch-size must be at least 1\n")
        return 2
    try:
        scorer = get_scorer(args.backend, args.model)
        lines = (line.rstrip("\r\n") for line in stdin)
        while batch := list(itertools.islice(lines, batch_size)):
            for sentiment in scorer.score_batch(batch, [args.language] * len(batch)):
                stdout.write(json.dumps(sentiment.to_dict()) + "\n")
            stdout.flush()
    except SentimentError as error:
        stderr.write(f"switchboard sentiment: error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
