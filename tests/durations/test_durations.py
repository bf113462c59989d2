"""The one duration syntax every config section and the API share."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durations import format_duration, parse_duration


def test_units_and_sums():
    assert parse_duration("45s") == timedelta(seconds=45)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("4h") == timedelta(hours=4)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    assert parse_duration("0.5s") == timedelta(seconds=0.5)
    assert parse_duration(" 1h 30m ") == timedelta(minutes=90)
    assert parse_duration(timedelta(seconds=3)) == timedelta(seconds=3)


@pytest.mark.parametrize(
    "bad", ["", "5", "m5", "5x", "soon", "2 weeks", "-5s", "1h-5m", 3, 2.5, True, None]
)
def test_anything_else_is_refused_saying_what_was_expected(bad: object):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_zero_only_where_asked_for():
    with pytest.raises(ValueError, match="more than zero"):
        parse_duration("0s")
    assert parse_duration("0m", zero_ok=True) == timedelta(0)
    with pytest.raises(ValueError, match="more than zero"):
        parse_duration(timedelta(seconds=-1), zero_ok=True)


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_formatting_reads_back(seconds: int):
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
