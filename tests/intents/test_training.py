"""Reading labelled examples: errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents import ExamplesError
from intents.training import read_examples, train
from tests.intents.examples import write_csv


def test_reads_text_and_label_columns(tmp_path: Path):
    path = write_csv(tmp_path / "ex.csv", [("Hello, there", "greeting"), ("bye", "farewell")])
    assert read_examples(path) == (["Hello, there", "bye"], ["greeting", "farewell"])


def test_category_is_accepted_for_label(tmp_path: Path):
    path = tmp_path / "ex.csv"
    path.write_text("text,category\nhi,greeting\nbye,farewell\n")
    assert read_examples(path)[1] == ["greeting", "farewell"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("words,intent_name\nhi,greeting\n", "expected a header with the columns text,label"),
        ("text,label\nhi,greeting\n,farewell\n", "line 3: the text is empty"),
        ("text,label\nhi,greeting\nbye,\n", "line 3: the label is empty"),
        ("text,label\nhi,greeting\nhello,greeting\n", "at least 2 intents"),
        ("", "expected a header"),
    ],
)
def test_bad_examples_are_refused_with_the_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "ex.csv"
    path.write_text(content)
    with pytest.raises(ExamplesError, match=message):
        read_examples(path)


def test_unreadable_files_are_refused(tmp_path: Path):
    with pytest.raises(ExamplesError, match="cannot read"):
        read_examples(tmp_path / "absent.csv")
    binary = tmp_path / "ex.csv"
    binary.write_bytes(b"text,label\n\xff\xfe,x\n")
    with pytest.raises(ExamplesError, match="not UTF-8"):
        read_examples(binary)


def test_training_needs_two_intents():
    with pytest.raises(ExamplesError):
        train(["a", "b"], ["same", "same"])
