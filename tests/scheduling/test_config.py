"""``[scheduling]`` is validated at start; a bad value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path)


def test_defaults_and_a_full_section(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        """
[scheduling]
step = "30m"
reminder_before = "2h"
cancel_keyword = "x"

[[scheduling.calendars]]
name = "field"
timezone = "Europe/Rome"
monday = ["08:00-16:00"]
closures = [{start = "2026-12-07T12:00:00Z", end = "2026-12-07T15:00:00Z"}]
""",
    )
    config = settings.scheduling  # type: ignore[attr-defined]
    assert config.step.total_seconds() == 1800
    assert config.reminder_before.total_seconds() == 7200
    assert config.cancel_keyword == "x"
    assert list(config.weekly_calendars()) == ["field"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('step = "soon"', "scheduling.step"),
        ('step = "2d"', "between 1m and 1d"),
        ('cancel_keyword = "cancel"', "opt-out"),
        ("colour = 1", "scheduling.colour"),
        ('[[scheduling.calendars]]\nname = "a"\ntimezone = "Mars/Base"', "unknown time zone"),
        (
            '[[scheduling.calendars]]\nname = "a"\nmonday = ["09:00-12:00", "11:00-13:00"]',
            "overlap",
        ),
        ('[[scheduling.calendars]]\nname = "a"\nmondey = ["09:00-12:00"]', "mondey"),
        (
            '[[scheduling.calendars]]\nname = "a"\nmonday = ["09:00-12:00"]\n'
            '[[scheduling.calendars]]\nname = "a"\nmonday = ["09:00-12:00"]',
            "used twice",
        ),
        (
            '[[scheduling.calendars]]\nname = "a"\nmonday = ["09:00-12:00"]\nclosures = ['
            '{start = "2026-12-07T09:00:00Z", end = "2026-12-07T12:00:00Z"},'
            '{start = "2026-12-07T11:00:00Z", end = "2026-12-07T13:00:00Z"}]',
            "closures overlap",
        ),
        ('[[scheduling.calendars]]\nname = "a"', "no open hours on any day"),
        ('default_calendar = "nowhere"', r"scheduling.default_calendar: unknown calendar .*24x7"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        _load(tmp_path, "[scheduling]\n" + text + "\n")
    assert "scheduling" in str(info.value)


def test_default_calendar_may_name_any_calendar(tmp_path: Path) -> None:
    """Ours, the service desk's business hours, or the built-in "24x7"."""
    for name in ("field", "office", "24x7"):
        settings = _load(
            tmp_path,
            f"""
[[calendars]]
name = "office"
timezone = "Europe/Rome"
monday = ["09:00-18:00"]

[scheduling]
default_calendar = "{name}"

[[scheduling.calendars]]
name = "field"
monday = ["08:00-16:00"]
""",
        )
        assert settings.scheduling.default_calendar == name  # type: ignore[attr-defined]
