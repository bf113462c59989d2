"""``switchboard skills train`` and ``classify``."""

from __future__ import annotations

import io
import json
from pathlib import Path

from intents import IntentModel
from intents.cli import main
from tests.intents.examples import write_csv


def test_train_writes_a_model_file_that_classifies(tmp_path: Path):
    examples = write_csv(tmp_path / "examples.csv")
    out = io.StringIO()
    assert main(["train", str(examples), "--out", str(tmp_path / "m.npz")], stdout=out) == 0
    assert "trained 4 intents on 100 examples" in out.getvalue()
    assert IntentModel.load(tmp_path / "m.npz").classify("I lost my card").intent == "lost_card"

    answers = io.StringIO()
    lines = io.StringIO("I want a refund for my order\n\nare you open tomorrow\n")
    assert main(["classify", str(tmp_path / "m.npz")], stdin=lines, stdout=answers) == 0
    found = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert [f["intent"] for f in found] == ["refund", "opening_hours"]


def test_bad_examples_exit_1_with_the_reason(tmp_path: Path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "m.npz")]) == 1
    assert "line 2: the label is empty" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_usage_errors_exit_2(capsys):
    assert main(["train"]) == 2
    assert main(["fly"]) == 2
