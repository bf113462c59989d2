"""``[[bots]]``: what a valid bot is, and errors that name the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bots import DEFAULT_HANDOFF_PHRASES, BotConfig, check_bots
from gateway.errors import ConfigError
from gateway.settings import load_settings


def test_timeouts_are_durations_kept_as_seconds():
    bot = BotConfig(name="helper", queues=["default"], timeout="250ms", grace="2m")
    assert (bot.timeout, bot.grace) == (0.25, 120.0)
    with pytest.raises(ValidationError, match="duration"):
        BotConfig(name="helper", queues=["default"], timeout=3)


def test_a_websocket_bot_needs_only_a_name_and_queues():
    bot = BotConfig(name="helper", queues=["default"])
    assert bot.connector == "websocket"
    assert (bot.timeout, bot.grace, bot.capacity) == (10.0, 30.0, None)
    assert bot.phrases() == dict(DEFAULT_HANDOFF_PHRASES)


def test_connectors_are_exclusive_and_a_webhook_needs_its_secret():
    hook = BotConfig(name="h", queues=["q"], webhook="https://b.example/x", secret="s3cret-123")
    assert hook.connector == "webhook"
    assert BotConfig(name="r", queues=["q"], rasa="http://127.0.0.1:5005/x").connector == "rasa"
    with pytest.raises(ValidationError, match="at most one"):
        BotConfig(name="x", queues=["q"], webhook="https://a", secret="s3cret-123", rasa="http://b")
    with pytest.raises(ValidationError, match="'secret' is required"):
        BotConfig(name="x", queues=["q"], webhook="https://a")
    with pytest.raises(ValidationError, match="only used with 'webhook'"):
        BotConfig(name="x", queues=["q"], secret="s3cret-123")
    with pytest.raises(ValidationError, match="queues"):
        BotConfig(name="x", queues=[])
    with pytest.raises(ValidationError, match=r"extra|Extra"):
        BotConfig(name="x", queues=["q"], colour="blue")  # type: ignore[call-arg]


def test_configured_phrases_replace_one_language_only():
    bot = BotConfig(name="x", queues=["q"], handoff_phrases={"en": ["wizard"]})
    phrases = bot.phrases()
    assert phrases["en"] == ("wizard",)
    assert phrases["de"] == DEFAULT_HANDOFF_PHRASES["de"]


def test_check_bots_names_the_bot_and_the_problem():
    a = BotConfig(name="a", queues=["sales"])
    with pytest.raises(ValueError, match=r"bots\[0\] \('a'\)\.queues: 'sales' is not a routing"):
        check_bots([a], ["default"])
    with pytest.raises(ValueError, match="already named"):
        check_bots([a, BotConfig(name="a", queues=["other"])], ["sales", "other"])
    with pytest.raises(ValueError, match="already goes to bot 'a'"):
        check_bots([a, BotConfig(name="b", queues=["sales"])], ["sales"])
    check_bots([a], ["sales", "default"])


def test_settings_refuse_a_bot_for_an_unknown_queue(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[bots]]\nname = "helper"\nqueues = ["nowhere"]\n')
    with pytest.raises(ConfigError, match=r"bots\[0\] \('helper'\)\.queues: 'nowhere'"):
        load_settings(path)
    path.write_text('[[bots]]\nname = "helper"\nqueues = ["default"]\ntimeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"key 'bots.0.timeout'"):
        load_settings(path)


def test_settings_read_a_full_bot(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(
        "[routing.queues.default]\n[routing.queues.billing]\n"
        '[[bots]]\nname = "helper"\nqueues = ["default"]\n'
        'webhook = "https://bots.example/switchboard"\nsecret = "0123456789"\n'
        'timeout = "2s"\ncapacity = 50\n'
        '[[bots]]\nname = "rasa"\nqueues = ["billing"]\n'
        'rasa = "http://127.0.0.1:5005/webhooks/rest/webhook"\n'
    )
    settings = load_settings(path)
    assert [b.name for b in settings.bots] == ["helper", "rasa"]
    assert settings.bots[0].timeout == 2.0 and settings.bots[0].capacity == 50
