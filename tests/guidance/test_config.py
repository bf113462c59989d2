"""Guidance config: bad values refused at start, naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings

GOOD = """
[routing]
queues = { default = {}, billing = {} }

[[macros]]
name = "greet"
actions = [{ kind = "send", text = "Hello {{ customer.first_name or 'there' }}" }]

[[macros]]
name = "to-billing"
actions = [
  { kind = "set", name = "topic", value = "billing" },
  { kind = "transfer", queue = "billing", note = "over to you" },
]

[[scripts]]
name = "billing"
when = "queue == 'billing' or intent == 'card_payment'"
steps = [
  { kind = "text", text = "Thank them for waiting." },
  { kind = "macro", macro = "greet" },
  { kind = "check", text = "Identity verified" },
]

[[canned]]
name = "refund-time"
title = "How long refunds take"
text = "Refunds reach your card within 5 days, {{ customer.first_name }}."
tags = ["refund"]
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return load_settings(path)


def test_a_good_config_loads(tmp_path: Path) -> None:
    settings = load(tmp_path, GOOD)
    assert [s.name for s in settings.scripts] == ["billing"]  # type: ignore[attr-defined]
    assert [m.name for m in settings.macros] == ["greet", "to-billing"]  # type: ignore[attr-defined]
    assert settings.canned[0].tags == ["refund"]  # type: ignore[attr-defined]


def test_a_script_naming_an_unknown_macro_is_refused_naming_the_key(tmp_path: Path) -> None:
    bad = GOOD.replace('macro = "greet"', 'macro = "gret"')
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, bad)
    message = str(caught.value)
    assert "switchboard.toml" in message
    assert "scripts[0].steps[1].macro: unknown macro 'gret'" in message
    assert "greet, to-billing" in message


def test_a_macro_transferring_to_an_unknown_queue_is_refused(tmp_path: Path) -> None:
    bad = GOOD.replace('queue = "billing", note', 'queue = "bills", note')
    with pytest.raises(
        ConfigError, match=r"macros\[1\]\.actions\[1\]\.queue: unknown queue 'bills'"
    ):
        load(tmp_path, bad)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "queue == 'billing' or",
            "queue = 'billing' or",
            r"key 'scripts\.0\.when': '=' is not an operator; use '==' at column 7",
        ),
        (
            "{{ customer.first_name or 'there' }}",
            "{{ customer.first_name",
            r"macros\.0\.actions\.0\.send\.text.*never closed",
        ),
        ('kind = "check"', 'kind = "tick"', r"scripts\.0\.steps\.2"),
        ('title = "How long', 'titel = "How long', r"canned\.0\.titel.*unknown setting"),
        (
            '{ kind = "transfer", queue = "billing", note = "over to you" },',
            '{ kind = "close" }, { kind = "send", text = "bye" },',
            r"a close must be the macro's last action",
        ),
        ('name = "to-billing"', 'name = "greet"', r"macros\[1\]\.name: 'greet' is defined twice"),
        (
            "{{ customer.first_name }}.",
            "{{ secrets.key }}.",
            r"canned\.0\.text.*unknown name 'secrets'",
        ),
    ],
)
def test_bad_guidance_config_names_the_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=expected):
        load(tmp_path, GOOD.replace(old, new))


def test_check_config_and_serve_refuse_an_unknown_macro(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('macro = "greet"', 'macro = "gret"'))
    for args in (["check-config", str(path)], ["serve", "--config", str(path), "--port", "0"]):
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "scripts[0].steps[1].macro: unknown macro 'gret'" in done.stderr
