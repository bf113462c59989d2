"""Service KPIs (first response, resolution, SLA compliance, abandonment,
transfers, CSAT, NPS) computed purely from conversation facts; the gateway's
``reports_api`` reads the facts and serves them as JSON or CSV."""

from reports.export import to_csv
from reports.kpis import (
    ConversationFacts,
    Durations,
    SlaFacts,
    SurveyFacts,
    breakdown,
    calendar_for,
    nps_score,
    percentile,
    summarize,
)

__all__ = [
    "ConversationFacts",
    "Durations",
    "SlaFacts",
    "SurveyFacts",
    "breakdown",
    "calendar_for",
    "nps_score",
    "percentile",
    "summarize",
    "to_csv",
]
