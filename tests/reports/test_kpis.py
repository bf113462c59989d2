"""The pure KPI arithmetic."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports import (
    ConversationFacts,
    Durations,
    SlaFacts,
    SurveyFacts,
    breakdown,
    calendar_for,
    nps_score,
    percentile,
    summarize,
    to_csv,
)
from reports.kpis import Between, by_day
from sla.calendar import Calendar

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def conv(
    cid: str,
    *,
    first: float | None = None,
    resolution: float | None = None,
    replied: bool = True,
    queue: str = "default",
    channel: str = "webchat",
    agent: str | None = "u_a",
    transfers: int = 0,
    customer_wrote: bool = True,
) -> ConversationFacts:
    customer_at = T0 + timedelta(seconds=5) if customer_wrote else None
    reply_at = None
    if customer_at is not None and first is not None:
        reply_at = customer_at + timedelta(seconds=first)
    return ConversationFacts(
        id=cid,
        channel=channel,
        queue=queue,
        agent_id=agent,
        status="closed" if resolution is not None else "assigned",
        created_at=T0,
        closed_at=None if resolution is None else T0 + timedelta(seconds=resolution),
        first_customer_at=customer_at,
        first_reply_at=reply_at,
        first_agent_at=reply_at if replied else None,
        transfers=transfers,
    )


def test_percentiles_interpolate_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([30.0, 90.0, 120.0], 0.9) == pytest.approx(114.0)
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50))
def test_the_median_is_the_statistics_median(values: list[float]):
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values))


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50))
def test_p90_lies_between_the_median_and_the_maximum(values: list[float]):
    p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
    assert p50 is not None and p90 is not None
    assert p50 <= p90 + 1e-6 and p90 <= max(values) + 1e-6


def test_nps_is_promoters_minus_detractors():
    assert nps_score([]) is None
    assert nps_score([10, 9, 9, 9]) == 100.0
    assert nps_score([0, 6, 6]) == -100.0
    assert nps_score([7, 8]) == 0.0
    assert nps_score([10, 6, 8]) == 0.0
    assert nps_score([10, 9, 8, 3]) == 25.0
    assert nps_score([9, 1, 2]) == pytest.approx(-33.3)


def test_summary_of_a_small_period():
    facts = [
        conv("a", first=30, resolution=600),
        conv("b", first=90, resolution=1800, transfers=2, queue="billing"),
        conv("c", first=None, resolution=300, replied=False),  # abandoned
        conv("d", first=None, resolution=None, replied=False),  # still waiting
        conv("e", resolution=60, replied=False, customer_wrote=False),  # nobody wrote
    ]
    surveys = [
        SurveyFacts("a", True, 5, 10),
        SurveyFacts("b", True, 2, 3),
        SurveyFacts("c", False),
        SurveyFacts("elsewhere", True, 1, 0),  # not in the period: ignored
    ]
    slas = [
        SlaFacts("a", "succeeded"),
        SlaFacts("a", "succeeded"),
        SlaFacts("b", "noncompliant"),
        SlaFacts("b", "in_progress"),
        SlaFacts("elsewhere", "noncompliant"),
    ]
    kpis = summarize(facts, surveys, slas)
    assert kpis == {
        "conversations": 5,
        "first_response_seconds": {"median": 60.0, "p90": 84.0},
        "resolution_seconds": {"median": 450.0, "p90": 1440.0},
        "sla": {"succeeded": 2, "noncompliant": 1},
        "abandoned": 1,
        "csat": {"average": 3.5, "responses": 2},
        "nps": {"score": 0.0, "responses": 2},
        "transfers": 2,
        "surveys": {"asked": 3, "answered": 2, "response_rate": 0.667},
    }


def test_an_agent_reply_after_the_close_does_not_save_it_from_abandonment():
    late = ConversationFacts(
        id="x",
        channel="webchat",
        queue="default",
        agent_id=None,
        status="closed",
        created_at=T0,
        closed_at=T0 + timedelta(seconds=10),
        first_customer_at=T0,
        first_reply_at=T0 + timedelta(seconds=20),
        first_agent_at=T0 + timedelta(seconds=20),
    )
    assert late.abandoned


def test_nothing_in_the_period():
    kpis = summarize([])
    assert kpis["conversations"] == 0
    assert kpis["first_response_seconds"] == {"median": None, "p90": None}
    assert kpis["csat"] == {"average": None, "responses": 0}
    assert kpis["nps"] == {"score": None, "responses": 0}
    assert kpis["surveys"]["response_rate"] is None


def test_breakdowns_group_and_skip_unassigned():
    facts = [
        conv("a", first=10, queue="q1", agent="u_1"),
        conv("b", first=20, queue="q2", agent=None),
        conv("c", first=30, queue="q1", agent="u_1", channel="sms"),
    ]
    queues = breakdown(facts, lambda f: f.queue)
    assert list(queues) == ["q1", "q2"]
    assert queues["q1"]["conversations"] == 2
    assert queues["q1"]["first_response_seconds"]["median"] == 20.0
    agents = breakdown(facts, lambda f: f.agent_id)
    assert list(agents) == ["u_1"]
    assert list(breakdown(facts, by_day)) == ["2026-11-02"]


def test_csv_has_a_header_the_whole_period_and_each_group():
    facts = [conv("a", first=10, resolution=100, queue="q1"), conv("b", queue="q2")]
    report = summarize(facts, [SurveyFacts("a", True, 4, None)])
    report["by_queue"] = breakdown(facts, lambda f: f.queue)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[0][:3] == ["scope", "key", "conversations"]
    assert rows[1][:3] == ["all", "", "2"]
    header = rows[0]
    overall = dict(zip(header, rows[1], strict=True))
    assert overall["first_response_median_s"] == "10.0"
    assert overall["csat_average"] == "4.0"
    assert overall["nps_score"] == ""  # no answers: empty, not zero
    assert [r[:2] for r in rows[2:]] == [["queue", "q1"], ["queue", "q2"]]


FRIDAY = datetime(2026, 11, 27, 15, 50, tzinfo=UTC)  # 16:50 in Rome, 10:50 in New York
MONDAY = datetime(2026, 11, 30, 8, 10, tzinfo=UTC)  # 09:10 in Rome, 03:10 in New York


def office(zone: str) -> Calendar:
    """09:00-17:00 on weekdays."""
    return Calendar(zone, zone, [[(9 * 60, 17 * 60)]] * 5 + [[], []])


def counting(calendar: Calendar) -> Between:
    return lambda start, end: calendar.between(start, end).total_seconds()


def weekend_ticket(cid: str) -> ConversationFacts:
    """Asked Friday afternoon, answered Monday morning, closed an hour later."""
    return ConversationFacts(
        id=cid,
        channel="email",
        queue="default",
        agent_id="u_a",
        status="closed",
        created_at=FRIDAY,
        closed_at=MONDAY + timedelta(hours=1),
        first_customer_at=FRIDAY,
        first_reply_at=MONDAY,
        first_agent_at=MONDAY,
    )


def test_each_conversation_counts_in_the_calendar_of_its_own_sla_policy():
    calendars = {
        "rome": counting(office("Europe/Rome")),
        "new york": counting(office("America/New_York")),
    }
    slas = [
        SlaFacts("r", "succeeded", "first_response", "rome"),
        SlaFacts("r", "succeeded", "resolution", "rome"),
        SlaFacts("n", "succeeded", "first_response", "new york"),
        SlaFacts("n", "succeeded", "resolution", "new york"),
    ]
    facts = [weekend_ticket("r"), weekend_ticket("n"), weekend_ticket("plain")]
    durations = Durations(slas, calendars)
    elapsed_first = (MONDAY - FRIDAY).total_seconds()
    # Rome: 16:50-17:00 Friday and 09:00-09:10 Monday. New York: 10:50-17:00
    # Friday, nothing Monday before 03:10. No policy: 24x7.
    assert durations.first_response(facts[0]) == 1200.0
    assert durations.first_response(facts[1]) == 6 * 3600 + 600.0
    assert durations.first_response(facts[2]) == elapsed_first
    # Resolution from Friday 16:50 Rome (10:50 New York) to Monday 10:10 Rome.
    assert durations.resolution(facts[0]) == 600.0 + 70 * 60
    assert durations.resolution(facts[1]) == 6 * 3600 + 600.0
    kpis = summarize(facts, (), slas, durations)
    assert kpis["first_response_seconds"]["median"] == 6 * 3600 + 600.0
    assert kpis["first_response_seconds"]["p90"] == pytest.approx(
        (6 * 3600 + 600.0) + 0.8 * (elapsed_first - (6 * 3600 + 600.0))
    )
    by_queue = breakdown(facts, lambda f: f.channel, (), slas, durations)
    assert by_queue["email"] == kpis
    # Without calendars (or with names no longer configured) all count 24x7.
    plain = summarize(facts, (), slas)
    assert plain["first_response_seconds"] == {"median": elapsed_first, "p90": elapsed_first}


def test_a_kpi_without_its_own_instance_takes_the_calendar_the_others_share():
    assert calendar_for({"first_response": "rome", "resolution": None}, "resolution") is None
    assert calendar_for({"first_response": "rome"}, "resolution") == "rome"
    assert calendar_for({"first_response": "rome", "other": "rome"}, "resolution") == "rome"
    assert calendar_for({"first_response": "rome", "other": "ny"}, "resolution") is None
    assert calendar_for({"first_response": None}, "resolution") is None
    assert calendar_for({}, "resolution") is None
    durations = Durations(
        [SlaFacts("r", "in_progress", "first_response", "rome")],
        {"rome": counting(office("Europe/Rome"))},
    )
    assert durations.resolution(weekend_ticket("r")) == 600.0 + 70 * 60
    assert durations.calendar("r", "resolution") == "rome"
    assert durations.calendar("other", "resolution") is None


def test_each_duration_is_counted_once_however_many_breakdowns_ask():
    calls = 0

    def between(start: datetime, end: datetime) -> float:
        nonlocal calls
        calls += 1
        return (end - start).total_seconds()

    slas = [SlaFacts("r", "succeeded", "first_response", "rome")]
    durations = Durations(slas, {"rome": between})
    facts = [weekend_ticket("r")]
    summarize(facts, (), slas, durations)
    breakdown(facts, lambda f: f.queue, (), slas, durations)
    breakdown(facts, by_day, (), slas, durations)
    assert calls == 2  # first response and resolution, once each


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3 * 86_400),
            st.integers(0, 3 * 86_400),
            st.sampled_from(["rome", "new york", None]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_business_time_never_exceeds_elapsed_time(items: list[tuple[int, int, str | None]]):
    calendars = {
        "rome": counting(office("Europe/Rome")),
        "new york": counting(office("America/New_York")),
    }
    facts, slas = [], []
    for n, (wait, stay, calendar) in enumerate(items):
        start = FRIDAY + timedelta(seconds=wait)
        facts.append(
            ConversationFacts(
                id=str(n),
                channel="webchat",
                queue="default",
                agent_id=None,
                status="closed",
                created_at=FRIDAY,
                closed_at=start + timedelta(seconds=stay),
                first_customer_at=FRIDAY,
                first_reply_at=start,
                first_agent_at=start,
            )
        )
        slas.append(SlaFacts(str(n), "succeeded", "first_response", calendar))
    durations = Durations(slas, calendars)
    for fact, (wait, stay, calendar) in zip(facts, items, strict=True):
        first = durations.first_response(fact)
        assert first is not None and 0 <= first <= wait
        if calendar is None:
            assert first == wait
        resolution = durations.resolution(fact)
        assert resolution is not None and 0 <= resolution <= wait + stay
