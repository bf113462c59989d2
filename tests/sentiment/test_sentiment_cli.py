import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment.cli import main


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_scores_one_json_line_per_input_line() -> None:
    code, out, err = run(["score"], "thanks so much!\nstill waiting...\n\nok\n")
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["label"] for line in lines] == ["positive", "negative", "neutral", "positive"]
    assert all(set(line) == {"score", "label"} for line in lines)
    assert lines[0]["score"] > 0.5 > -0.2 > lines[1]["score"]


def test_batches_do_not_change_results() -> None:
    text = "".join(f"message {i} is great\nmessage {i} is awful\n" for i in range(50))
    assert run(["score", "--batch-size", "7"], text)[1] == run(["score"], text)[1]


def test_language_option_is_passed_to_the_scorer() -> None:
    assert json.loads(run(["score", "--language", "es"], "awful\n")[1])["label"] == "neutral"


def test_unknown_backend_is_a_clear_error() -> None:
    code, out, err = run(["score", "--backend", "nope"], "hi\n")
    assert (code, out) == (1, "")
    assert "unknown sentiment backend 'nope'" in err


def test_bad_model_path_is_a_clear_error() -> None:
    code, _, err = run(["score", "--backend", "transformers", "--model", "/no/such/dir"])
    assert code == 1
    assert "model directory '/no/such/dir' does not exist" in err


@pytest.mark.parametrize("argv", [[], ["score", "--bogus"], ["frobnicate"]])
def test_usage_errors_exit_2_with_usage_on_stderr(argv: list[str]) -> None:
    code, out, err = run(argv)
    assert (code, out) == (2, "")
    assert "usage: switchboard sentiment" in err


def test_help_goes_to_stdout_and_exits_0() -> None:
    code, out, _ = run(["score", "--help"])
    assert code == 0
    assert "--backend" in out


def test_runs_as_a_real_process_reading_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sentiment.cli", "score"],
        input="I want to cancel my account\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] == "negative"


def test_transformers_backend_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    testing = pytest.importorskip("sentiment.testing")
    os.environ["HF_HUB_OFFLINE"] = "1"
    model = testing.build_tiny_model(tmp_path / "m", probabilities=[0.7, 0.2, 0.1])
    code, out, err = run(["score", "--backend", "transformers", "--model", str(model)], "good\n")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"score": -0.6, "label": "negative"}
