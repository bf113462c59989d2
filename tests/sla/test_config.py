"""``[[calendars]]`` and ``[[sla]]``: a good file loads, each bad one is refused
at start naming the file and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import load_settings

GOOD = """
[[calendars]]
name = "office"
timezone = "Europe/Rome"
monday = ["09:00-13:00", "14:00-18:00"]
tuesday = ["09:00-18:00"]
holidays = ["2026-12-25"]
closures = [{ start = 2026-12-28T09:00:00, end = 2026-12-28T12:00:00, reason = "move" }]

[[sla]]
name = "chat first response"
applies_to = "conversation"
when = "channel == 'webchat'"
calendar = "office"
kpis = [ { kpi = "first_response", warn_after = "2m", fail_after = "5m" } ]

[[sla]]
name = "chat resolution"
[[sla.kpis]]
kpi = "resolution"
warn_after = "4h"
fail_after = "8h"
on_failure = ["notify", "raise_priority", "queue:default", "email:boss@example.com"]
on_warning = ["reassign", "reassign:default"]

[[sla]]
name = "case"
applies_to = "case"
pause_on = ["on_hold", "waiting_for_details"]
[[sla.kpis]]
kpi = "resolution"
warn_after = "1d"
fail_after = "2d"
[[sla.kpis]]
kpi = "researched"
warn_after = "1h"
fail_after = "2h"
succeed_when = "status_reason == 'researching'"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return path


def test_the_protocol_example_loads(tmp_path: Path):
    settings = load_settings(write(tmp_path, GOOD))
    assert [c.name for c in settings.calendars] == ["office"]
    policy = settings.sla[0]
    assert policy.kpis[0].warn_after == timedelta(minutes=2)
    assert settings.sla[1].kpis[0].on_failure[1] == "raise_priority"
    assert settings.sla[1].kpis[0].on_warning == ["reassign", "reassign:default"]
    assert settings.sla[2].pause_on == ["on_hold", "waiting_for_details"]
    calendar = settings.calendars[0].build()
    assert calendar.zone.key == "Europe/Rome"


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    return message


CAL = '[[calendars]]\nname = "office"\ntimezone = "Europe/Rome"\nmonday = ["09:00-17:00"]\n'
POLICY = (
    '[[sla]]\nname = "p"\n'
    'kpis = [{ kpi = "first_response", warn_after = "1m", fail_after = "2m" }]\n'
)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (
            CAL.replace("Europe/Rome", "Europe/Atlantis"),
            "calendars.0.timezone",
            "unknown time zone",
        ),
        (CAL.replace('"09:00-17:00"', '"17:00-09:00"'), "calendars.0.monday", "ends before"),
        (
            CAL.replace('"09:00-17:00"', '"09:00-13:00", "12:00-18:00"'),
            "calendars.0.monday",
            "overlap",
        ),
        (CAL.replace('"09:00-17:00"', '"9am-5pm"'), "calendars.0.monday", "expected a range"),
        (CAL.replace('"09:00-17:00"', '"09:00-25:00"'), "calendars.0.monday", "time of day"),
        (CAL.replace('monday = ["09:00-17:00"]', ""), "calendars.0", "no open hours"),
        (CAL + 'holidays = ["2026-13-01"]\n', "calendars.0.holidays.0", ""),
        (
            POLICY.replace('"1m", fail_after = "2m"', '"5m", fail_after = "5m"'),
            "sla.0.kpis.0",
            "warn_after",
        ),
        (
            POLICY.replace('"1m", fail_after = "2m"', '"10m", fail_after = "5m"'),
            "sla.0.kpis.0",
            "must come before fail_after",
        ),
        (POLICY.replace('"1m"', '"1 minute"'), "sla.0.kpis.0.warn_after", "expected a duration"),
        (POLICY.replace('"1m"', "60"), "sla.0.kpis.0.warn_after", "expected a duration"),
        (POLICY + 'pause_on = ["lunch"]\n', "sla.0.pause_on", "unknown case status"),
        (POLICY + 'when = "channel = 1"\n', "sla.0.when", "bad expression"),
        (POLICY + 'when = "channel == "\n', "sla.0.when", "column"),
        (POLICY + 'calendar = "office"\n', "sla[0].calendar", "unknown calendar 'office'"),
        (POLICY + 'applies_to = "ticket"\n', "sla.0.applies_to", ""),
        (POLICY + "colour = 1\n", "sla.0.colour", "unknown setting"),
        (
            POLICY.replace('fail_after = "2m"', 'fail_after = "2m", on_failure = ["sms:1"]'),
            "sla.0.kpis.0.on_failure",
            "unknown action",
        ),
        (
            POLICY.replace('fail_after = "2m"', 'fail_after = "2m", on_failure = ["queue:vip"]'),
            "sla[0].kpis[0].on_failure",
            "not a routing queue",
        ),
        (
            POLICY.replace('fail_after = "2m"', 'fail_after = "2m", on_warning = ["reassign:vip"]'),
            "sla[0].kpis[0].on_warning",
            "not a routing queue",
        ),
        (
            POLICY.replace('fail_after = "2m"', 'fail_after = "2m", on_warning = ["reassign:"]'),
            "sla.0.kpis.0.on_warning",
            "unknown action",
        ),
        (POLICY.replace('"first_response"', '"answered"'), "sla.0.kpis.0", "succeed_when"),
        (POLICY + POLICY, "sla[1].name", "defined twice"),
        (CAL + CAL, "calendars[1].name", "defined twice"),
    ],
)
def test_bad_sla_config_is_refused_with_file_and_key(
    tmp_path: Path, text: str, key: str, words: str
):
    message = refused(tmp_path, text)
    assert key in message, message
    assert words in message, message


def test_a_case_policy_may_name_a_custom_kpi_a_conversation_policy_may_not(tmp_path: Path):
    custom = '{ kpi = "researched", warn_after = "1h", fail_after = "2h", succeed_when = "x == 1" }'
    text = f'[[sla]]\nname = "p"\nkpis = [{custom}]\n'
    assert "applies to cases only" in refused(tmp_path, text)
    load_settings(write(tmp_path, text + 'applies_to = "case"\n'))


def test_the_worked_example_in_the_docs_loads(tmp_path: Path):
    docs = (Path(__file__).parents[2] / "docs" / "service.md").read_text()
    section = docs[docs.index("## SLAs and business hours") :]
    example = section[
        section.index("```toml") + 7 : section.index("```\n", section.index("```toml") + 7)
    ]
    settings = load_settings(write(tmp_path, example))
    assert [p.name for p in settings.sla] == ["gold chat", "chat", "case"]
    assert [k.kpi for k in settings.sla[2].kpis] == ["first_response", "resolution", "researched"]
