"""KPIs as CSV: one row for the whole period, then one per breakdown group.

Every text cell goes through ``cell``: a spreadsheet opening the file must
not read a queue or agent name as a formula (CSV formula injection), so text
that starts with ``= + - @``, a tab or a carriage return gets a leading
``'``. Numbers stay numbers (a negative NPS is not a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

COLUMNS = (
    "scope",
    "key",
    "conversations",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "resolution_p90_s",
    "sla_succeeded",
    "sla_noncompliant",
    "abandoned",
    "transfers",
    "csat_average",
    "csat_responses",
    "nps_score",
    "nps_responses",
    "survey_response_rate",
)

BREAKDOWNS = (("by_queue", "queue"), ("by_channel", "channel"), ("by_agent", "agent"))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """``value`` safe for a spreadsheet: text that a spreadsheet would run as a
    formula is prefixed with ``'``; numbers and other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _row(scope: str, key: str, kpis: Mapping[str, Any]) -> list[Any]:
    def blank(value: Any) -> Any:
        return "" if value is None else value

    first, resolution = kpis["first_response_seconds"], kpis["resolution_seconds"]
    return [
        scope,
        key,
        kpis["conversations"],
        blank(first["median"]),
        blank(first["p90"]),
        blank(resolution["median"]),
        blank(resolution["p90"]),
        kpis["sla"]["succeeded"],
        kpis["sla"]["noncompliant"],
        kpis["abandoned"],
        kpis.get("transfers", ""),
        blank(kpis["csat"]["average"]),
        kpis["csat"]["responses"],
        blank(kpis["nps"]["score"]),
        kpis["nps"]["responses"],
        blank(kpis.get("surveys", {}).get("response_rate")),
    ]


def to_csv(report: Mapping[str, Any]) -> str:
    """The report of ``GET /api/v1/reports/kpis`` as CSV text (header first;
    ``scope`` is ``all``, ``queue``, ``channel``, ``agent`` or ``day``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([cell(v) for v in _row("all", "", report)])
    for field, scope in (*BREAKDOWNS, ("by_day", "day")):
        for key, kpis in report.get(field, {}).items():
            writer.writerow([cell(v) for v in _row(scope, str(key), kpis)])
    return out.getvalue()
