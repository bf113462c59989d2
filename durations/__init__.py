"""Durations as the config file and the API write them: ``"45s"``, ``"15m"``,
``"4h"``, ``"2d"``, ``"250ms"``, or parts together (``"1h30m"``).

One parser for every package, so a duration means the same in ``[[sla]]``,
``[[bots]]``, ``[surveys]`` and a booking's buffer. Bare numbers are refused:
a unit the reader has to guess is how a 10-minute timeout becomes 10 seconds.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhd])")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object, *, zero_ok: bool = False) -> timedelta:
    """The duration ``value`` spells (a ``timedelta`` passes through).

    Raises:
        ValueError: not one or more ``<number><ms|s|m|h|d>`` parts, or zero
            where ``zero_ok`` is false; the message says what was expected.
    """
    if isinstance(value, timedelta):
        duration = value
    else:
        text = value.strip().replace(" ", "") if isinstance(value, str) else ""
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT[match.group(2)]
            pos = match.end()
        if not text or pos != len(text):
            raise ValueError(
                f"expected a duration like '45s', '15m', '4h', '2d' or '1h30m', got {value!r}"
            )
        duration = timedelta(seconds=seconds)
    if duration < timedelta(0) or (not zero_ok and duration == timedelta(0)):
        raise ValueError(f"a duration must be more than zero, got {value!r}")
    return duration


def format_duration(value: timedelta) -> str:
    """The shortest config spelling of ``value`` (whole seconds)."""
    seconds = int(value.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT[unit]
        if seconds >= size:
            parts.append(f"{int(seconds // size)}{unit}")
            seconds %= int(size)
    return "".join(parts) or "0s"


def _seconds(value: object) -> float:
    return parse_duration(value).total_seconds()


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A config field holding a positive duration."""
Seconds = Annotated[float, BeforeValidator(_seconds)]
"""The same, kept as float seconds (for timeouts handed to asyncio)."""

__all__ = ["Duration", "Seconds", "format_duration", "parse_duration"]
