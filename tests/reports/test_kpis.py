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
    SlaFacts,
    SurveyFacts,
    breakdown,
    nps_score,
    percentile,
    summarize,
    to_csv,
)
from reports.kpis import by_day

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


def test_durations_in_business_time_with_a_calendar():
    from sla.calendar import Calendar

    office = Calendar("office", "Europe/Rome", [[(9 * 60, 17 * 60)]] * 5 + [[], []])

    def between(start: datetime, end: datetime) -> float:
        return office.between(start, end).total_seconds()

    friday = datetime(2026, 11, 27, 15, 50, tzinfo=UTC)  # 16:50 in Rome
    monday = datetime(2026, 11, 30, 8, 10, tzinfo=UTC)  # 09:10 in Rome
    facts = [
        ConversationFacts(
            id="w",
            channel="email",
            queue="default",
            agent_id="u_a",
            status="closed",
            created_at=friday,
            closed_at=monday + timedelta(hours=1),
            first_customer_at=friday,
            first_reply_at=monday,
            first_agent_at=monday,
        )
    ]
    plain = summarize(facts)
    business = summarize(facts, between=between)
    assert plain["first_response_seconds"]["median"] == (monday - friday).total_seconds()
    assert business["first_response_seconds"] == {"median": 1200.0, "p90": 1200.0}
    assert business["resolution_seconds"]["median"] == 1200.0 + 3600.0
