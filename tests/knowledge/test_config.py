"""``[knowledge]`` is validated at start, and bad values name their key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.settings import check_file
from knowledge.config import KnowledgeConfig


def test_defaults_and_durations() -> None:
    config = KnowledgeConfig()
    assert config.portal and config.suggested_articles == 5
    assert config.topics_period == timedelta(days=7)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[knowledge]\ntopics_period = "soon"\n', "knowledge.topics_period"),
        ("[knowledge]\nsuggested_articles = 0\n", "knowledge.suggested_articles"),
        ("[knowledge]\nportals = true\n", "knowledge.portals"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text(toml)
    with pytest.raises(Exception) as caught:
        check_file(path)
    assert key in str(caught.value)


def test_a_good_section_loads(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.toml"
    path.write_text('[knowledge]\nportal = false\ntopics_period = "30d"\n')
    settings = check_file(path)
    assert settings.knowledge.portal is False
    assert settings.knowledge.topics_period == timedelta(days=30)


def test_a_bad_encoder_directory_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for directory, problem in (("gone", "no such model directory"), ("empty", "no config.json")):
        path = tmp_path / "switchboard.toml"
        path.write_text(f'[knowledge]\nencoder = "{tmp_path / directory}"\n')
        with pytest.raises(Exception) as caught:
            check_file(path)
        message = str(caught.value)
        assert "'knowledge.encoder'" in message and problem in message
        assert str(path) in message
    assert KnowledgeConfig().encoder is None  # default: lexical only
