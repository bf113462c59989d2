"""KPI clocks: the transition table, pause and resume in business time, and
the board that says what is due."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from sla import clock
from sla.calendar import ALWAYS_OPEN, Calendar
from sla.clock import KpiBoard, KpiEvent, KpiStatus
from sla.config import PAUSE_STATUSES, CalendarConfig
from sla.errors import IllegalTransition

HOUR = 3600.0


def instance(now: float = 0.0, hours=ALWAYS_OPEN, warn: float = 60, fail: float = 120, n: int = 1):
    return clock.start(
        id=f"kpi_{n}",
        subject_kind="conversation",
        subject_id=f"conv_{n}",
        sla="chat",
        kpi="first_response",
        warn_after=warn,
        fail_after=fail,
        hours=hours,
        now=now,
    )


def test_a_new_instance_runs_with_due_times_from_its_start():
    kpi = instance(now=1000)
    assert kpi.status is KpiStatus.IN_PROGRESS
    assert (kpi.warning_at, kpi.failure_at) == (1060, 1120)
    assert kpi.next_due() == (1060, KpiEvent.WARN)


def test_warning_then_failure_then_late_completion_stays_noncompliant():
    kpi = clock.warn(instance(), 60)
    assert kpi.status is KpiStatus.NEARING_NONCOMPLIANCE and kpi.next_due() == (120, KpiEvent.FAIL)
    kpi = clock.fail(kpi, 120)
    assert kpi.status is KpiStatus.NONCOMPLIANT and kpi.next_due() is None
    kpi = clock.complete(kpi, 500)
    assert kpi.status is KpiStatus.NONCOMPLIANT and kpi.completed_at == 500


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (KpiStatus.SUCCEEDED, KpiEvent.WARN),
        (KpiStatus.SUCCEEDED, KpiEvent.COMPLETE),
        (KpiStatus.CANCELLED, KpiEvent.RESUME),
        (KpiStatus.NONCOMPLIANT, KpiEvent.PAUSE),
        (KpiStatus.NONCOMPLIANT, KpiEvent.CANCEL),
        (KpiStatus.NEARING_NONCOMPLIANCE, KpiEvent.WARN),
        (KpiStatus.PAUSED, KpiEvent.WARN),
        (KpiStatus.PAUSED, KpiEvent.FAIL),
        (KpiStatus.PAUSED, KpiEvent.PAUSE),
        (KpiStatus.IN_PROGRESS, KpiEvent.RESUME),
    ],
)
def test_illegal_moves_raise_naming_state_and_event(status: KpiStatus, event: KpiEvent):
    with pytest.raises(IllegalTransition) as caught:
        clock.move(status, event)
    assert status.value in str(caught.value) and event.value in str(caught.value)


def test_every_status_is_in_the_table():
    assert set(clock.TRANSITIONS) == set(KpiStatus)
    assert clock.allowed(KpiStatus.PAUSED, KpiEvent.COMPLETE)
    assert not clock.allowed(KpiStatus.SUCCEEDED, KpiEvent.CANCEL)


def test_pause_stops_the_clock_and_resume_adds_the_paused_time_back():
    kpi = clock.pause(instance(), ALWAYS_OPEN, 40)
    assert kpi.status is KpiStatus.PAUSED
    assert kpi.warning_at is None and kpi.failure_at is None and kpi.next_due() is None
    kpi = clock.resume(kpi, ALWAYS_OPEN, 1040)
    assert kpi.status is KpiStatus.IN_PROGRESS
    assert (kpi.warning_at, kpi.failure_at) == (1060, 1120)
    assert kpi.paused_seconds == 1000


def test_resume_after_the_warning_returns_to_nearing_noncompliance():
    kpi = clock.warn(instance(), 60)
    kpi = clock.resume(clock.pause(kpi, ALWAYS_OPEN, 90), ALWAYS_OPEN, 190)
    assert kpi.status is KpiStatus.NEARING_NONCOMPLIANCE
    assert kpi.failure_at == 220 and kpi.next_due() == (220, KpiEvent.FAIL)


def test_pause_and_resume_count_business_time():
    office = CalendarConfig(
        name="office", timezone="UTC", **{d: ["09:00-17:00"] for d in ("monday", "tuesday")}
    ).build()
    monday_9 = datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp()
    kpi = instance(monday_9, office, warn=4 * HOUR, fail=6 * HOUR)
    assert kpi.failure_at == monday_9 + 6 * HOUR
    # Paused at 11:00 (2h used) until Tuesday 10:00: 4h left from there.
    kpi = clock.pause(kpi, office, monday_9 + 2 * HOUR)
    kpi = clock.resume(kpi, office, monday_9 + 25 * HOUR)
    assert kpi.elapsed == 2 * HOUR
    assert kpi.warning_at == monday_9 + 27 * HOUR  # Tuesday 12:00
    assert kpi.failure_at == monday_9 + 29 * HOUR  # Tuesday 14:00


def test_board_fires_warning_then_failure_in_order_once():
    board = KpiBoard()
    board.put(instance(now=0, n=1))
    board.put(instance(now=10, n=2))
    assert board.next_due_at() == 60
    assert board.due(59) == []
    changes = board.due(200)  # both warnings and both failures were due
    fired = [(c.after.id, c.event) for c in changes]
    assert fired == [
        ("kpi_1", KpiEvent.WARN),
        ("kpi_2", KpiEvent.WARN),
        ("kpi_1", KpiEvent.FAIL),
        ("kpi_2", KpiEvent.FAIL),
    ]
    assert board.due(10_000) == [] and len(board) == 0


def test_board_drops_completed_and_paused_instances():
    board = KpiBoard()
    first, second = instance(n=1), instance(n=2)
    board.put_all([first, second])
    board.put(clock.complete(first, 30))
    board.put(clock.pause(second, ALWAYS_OPEN, 30))
    assert board.due(1_000) == []
    assert board.get("kpi_1") is None and board.get("kpi_2").status is KpiStatus.PAUSED
    assert [k.id for k in board.of_subject("conversation", "conv_2")] == ["kpi_2"]
    board.put(clock.resume(board.get("kpi_2"), ALWAYS_OPEN, 2_000))
    assert [c.event for c in board.due(2_100)] == [KpiEvent.WARN, KpiEvent.FAIL]


def test_board_due_matches_a_linear_scan_over_many_instances():
    rng = random.Random(7)
    board = KpiBoard()
    for n in range(2_000):
        warn = rng.uniform(1, 100)
        fail = warn + rng.uniform(1, 100)
        board.put(instance(now=rng.uniform(0, 100), warn=warn, fail=fail, n=n))
    now = 0.0
    while len(board):
        now += rng.uniform(0, 20)
        expected = []
        for kpi in board:
            due = kpi.next_due()
            if due is not None and due[0] <= now:
                expected.append((kpi.id, due[1]))
                if due[1] is KpiEvent.WARN and kpi.failure_at <= now:
                    expected.append((kpi.id, KpiEvent.FAIL))
        changes = board.due(now)
        assert sorted((c.before.id, c.event) for c in changes) == sorted(expected)
        assert all(k.next_due() is None or k.next_due()[0] > now for k in board)


def test_pause_statuses_are_the_active_case_reasons():
    assert PAUSE_STATUSES == ("in_progress", "researching", "waiting_for_details", "on_hold")


def test_a_clock_started_on_a_closed_day_counts_from_the_next_opening():
    office = Calendar("o", "UTC", [[(540, 1020)]] * 5 + [[], []])
    saturday = datetime(2026, 11, 28, 10, tzinfo=UTC)
    kpi = instance(saturday.timestamp(), office, warn=60, fail=120)
    assert kpi.warning_at == datetime(2026, 11, 30, 9, 1, tzinfo=UTC).timestamp()
    assert kpi.failure_at == datetime(2026, 11, 30, 9, 2, tzinfo=UTC).timestamp()
