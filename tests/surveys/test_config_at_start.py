"""A bad ``[surveys]`` section stops the server at start, naming file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[surveys]\nchannels = ["webchat", "fax"]\n', "surveys.channels"),
        ('[surveys]\nquestions = ["ces"]\n', "surveys.questions"),
        ('[surveys]\nanswer_window = "a while"\n', "surveys.answer_window"),
        ("[surveys.queues.billing]\nquestions = []\n", "surveys.queues.billing.questions"),
        ('[surveys]\nsms_text = "rate {us}"\n', "surveys.sms_text"),
        ("[surveys]\ncolour = 'red'\n", "surveys.colour"),
    ],
)
def test_bad_survey_config_names_file_and_key(tmp_path: Path, toml: str, key: str):
    path = tmp_path / "switchboard.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message and f"key '{key}" in message, message


def test_a_good_survey_config_loads(tmp_path: Path):
    path = tmp_path / "switchboard.toml"
    path.write_text(
        '[surveys]\nchannels = ["webchat", "sms"]\nquestions = ["nps", "csat"]\n'
        'answer_window = "12h"\n[surveys.queues.vip]\nchannels = []\n'
    )
    settings = load_settings(path)
    assert settings.surveys.questions == ["nps", "csat"]
    assert settings.surveys.queues["vip"].channels == []


def test_check_config_refuses_a_bad_survey_section(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text('[surveys]\nquestions = ["csat", "csat"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "surveys.questions" in result.stderr + result.stdout
