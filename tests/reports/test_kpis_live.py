"""``GET /api/v1/reports/kpis`` on a known scenario, on SQLite and PostgreSQL.

The scenario is written straight into the server's database on a day long
past (2020-03-02), so the numbers are exact and no other test's
conversations fall in the period.
"""

from __future__ import annotations

import csv
import functools
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
)

from conversations import schema as t
from conversations.engine import normalise_url
from surveys.tables import surveys
from tests.conftest import PASSWORD
from tests.support.clients import bearer, token
from tests.support.server import Server

# Two cores are shared by every server the tests run: be patient.
http_get = functools.partial(httpx.get, timeout=30.0)
http_post = functools.partial(httpx.post, timeout=30.0)

DAY = datetime(2020, 3, 2, tzinfo=UTC)
PERIOD = {"since": "2020-03-02T00:00:00Z", "until": "2020-03-03T00:00:00Z"}


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


class Scenario:
    """Builds rows for one conversation at a time."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:10]
        self.customer = f"cu_kpi_{self.tag}"
        self.agent_a = f"u_kpi_a_{self.tag}"
        self.agent_b = f"u_kpi_b_{self.tag}"
        self.rows: dict[str, list[dict[str, Any]]] = {
            "conversations": [],
            "messages": [],
            "timeline": [],
            "surveys": [],
            "sla": [],
        }

    def conversation(
        self,
        name: str,
        *,
        channel: str,
        queue: str,
        agent: str | None,
        created: datetime,
        closed: datetime | None,
        messages: list[tuple[str, datetime]],
    ) -> str:
        cid = f"c_kpi_{name}_{self.tag}"
        self.rows["conversations"].append(
            {
                "id": cid,
                "customer_id": self.customer,
                "channel": channel,
                "status": "closed" if closed else "queued",
                "queue": queue,
                "subject": None,
                "language": None,
                "priority": 0,
                "assigned_agent_id": agent,
                "last_seq": len(messages),
                "prechat": {},
                "context": {},
                "sentiment": None,
                "created_at": created,
                "updated_at": closed or created,
                "closed_at": closed,
            }
        )
        for seq, (role, when) in enumerate(messages, start=1):
            self.rows["messages"].append(
                {
                    "id": f"m_kpi_{name}_{seq}_{self.tag}",
                    "conversation_id": cid,
                    "seq": seq,
                    "sender_role": role,
                    "sender_id": agent if role == "agent" else self.customer,
                    "sender_name": role,
                    "client_msg_id": None,
                    "channel": channel,
                    "external_id": None,
                    "text": f"{role} says hi",
                    "attributes": {},
                    "created_at": when,
                }
            )
        return cid

    def transfer(self, cid: str, when: datetime) -> None:
        self.rows["timeline"].append(
            {
                "conversation_id": cid,
                "type": "queued",
                "actor": self.agent_a,
                "data": {"note": None, "from_agent": self.agent_a, "queue": "billing"},
                "created_at": when,
            }
        )
        # A declined offer requeues too, but is no transfer.
        self.rows["timeline"].append(
            {
                "conversation_id": cid,
                "type": "queued",
                "actor": "router",
                "data": {"reason": "offer rejected"},
                "created_at": when,
            }
        )

    def survey(
        self, cid: str, when: datetime, csat: int | None = None, nps: int | None = None
    ) -> None:
        answered = csat is not None or nps is not None
        self.rows["surveys"].append(
            {
                "id": f"sv_{cid}",
                "conversation_id": cid,
                "customer_id": self.customer,
                "channel": "webchat",
                "queue": "default",
                "agent_id": None,
                "questions": ["csat", "nps"],
                "status": "answered" if answered else "asked",
                "asked_at": when,
                "expires_at": when + timedelta(days=2),
                "csat": csat,
                "nps": nps,
                "comment": None,
                "answered_at": when if answered else None,
                "answer_ref": None,
            }
        )

    def sla(self, cid: str, kpi: str, status: str) -> None:
        self.rows["sla"].append(
            {"subject_kind": "conversation", "subject_id": cid, "kpi": kpi, "status": status}
        )

    def _sla_rows(self, engine: Engine) -> tuple[Table, list[dict[str, Any]]]:
        """The SLA runtime's table as the database has it, and our rows with
        every other required column filled by its type."""
        table = Table("sla_instances", MetaData(), autoload_with=engine)
        filler = {Boolean: False, Float: 0.0, Integer: 0, DateTime: DAY}
        rows = []
        for n, wanted in enumerate(self.rows["sla"]):
            row: dict[str, Any] = {"id": f"sla_kpi_{n}_{self.tag}", "sla": "chat"}
            for col in table.columns:
                if col.name in row or col.name in wanted or col.nullable:
                    continue
                kind = next((v for k, v in filler.items() if isinstance(col.type, k)), "x")
                row[col.name] = kind
            rows.append({**row, **wanted})
        return table, rows

    def write(self, database_url: str) -> None:
        engine = create_engine(normalise_url(database_url, sync=True))
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(t.customers).values(
                        id=self.customer,
                        name="Kpi Customer",
                        email=None,
                        phone=None,
                        attributes={},
                        created_at=DAY,
                    )
                )
                conn.execute(insert(t.conversations), self.rows["conversations"])
                conn.execute(insert(t.messages), self.rows["messages"])
                conn.execute(insert(t.timeline), self.rows["timeline"])
                conn.execute(insert(surveys), self.rows["surveys"])
                table, rows = self._sla_rows(engine)
                conn.execute(insert(table), rows)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def scenario(server: Server) -> Scenario:
    s = Scenario()
    c1 = s.conversation(
        "one",
        channel="webchat",
        queue="default",
        agent=s.agent_a,
        created=at(10),
        closed=at(10, 10),
        messages=[("customer", at(10, 0, 10)), ("agent", at(10, 0, 40))],
    )
    c2 = s.conversation(
        "two",
        channel="webchat",
        queue="billing",
        agent=s.agent_a,
        created=at(11),
        closed=at(11, 30),
        # An agent's greeting before the customer wrote does not count.
        messages=[("agent", at(10, 59)), ("customer", at(11)), ("agent", at(11, 1, 30))],
    )
    c3 = s.conversation(
        "three",
        channel="sms",
        queue="default",
        agent=s.agent_b,
        created=at(12),
        closed=at(13),
        messages=[("customer", at(12, 0, 5)), ("bot", at(12, 0, 6)), ("agent", at(12, 2, 5))],
    )
    c4 = s.conversation(
        "four",
        channel="webchat",
        queue="default",
        agent=None,
        created=at(14),
        closed=at(14, 5),
        messages=[("customer", at(14, 0, 1)), ("system", at(14, 0, 2))],
    )
    s.conversation(
        "five",
        channel="webchat",
        queue="default",
        agent=None,
        created=at(15),
        closed=None,
        messages=[("customer", at(15))],
    )
    s.conversation(
        "before",
        channel="webchat",
        queue="default",
        agent=s.agent_a,
        created=DAY - timedelta(minutes=1),
        closed=at(1),
        messages=[("customer", DAY), ("agent", at(0, 30))],
    )
    s.transfer(c2, at(11, 10))
    s.survey(c1, at(10, 10), csat=5, nps=10)
    s.survey(c2, at(11, 30), csat=3, nps=6)
    s.survey(c3, at(13))
    s.survey(c4, at(14, 5), csat=1, nps=8)
    s.sla(c1, "first_response", "succeeded")
    s.sla(c1, "resolution", "succeeded")
    s.sla(c2, "first_response", "noncompliant")
    s.sla(c2, "resolution", "nearing_noncompliance")
    s.sla(c3, "first_response", "cancelled")
    s.write(server.database_url)
    return s


@functools.cache
def _token(http: str, user: str) -> str:
    return token(http, user, PASSWORD)


def get(server: Server, user: str = "sam", **params: str) -> httpx.Response:
    return http_get(
        server.http + "/api/v1/reports/kpis",
        params=params,
        headers=bearer(_token(server.http, user)),
    )


def test_kpis_of_a_known_day(server: Server, scenario: Scenario):
    reply = get(server, **PERIOD)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert {k: body[k] for k in PROTOCOL_KEYS} == {
        "conversations": 5,
        # First responses 30 s, 90 s, 120 s.
        "first_response_seconds": {"median": 90.0, "p90": 114.0},
        # Resolutions 600 s, 1800 s, 3600 s, 300 s.
        "resolution_seconds": {"median": 1200.0, "p90": 3060.0},
        "sla": {"succeeded": 2, "noncompliant": 1},
        "abandoned": 1,
        "csat": {"average": 3.0, "responses": 3},
        # Promoters 1 (10), detractors 1 (6), passives 1 (8).
        "nps": {"score": 0.0, "responses": 3},
    }
    assert body["transfers"] == 1
    assert body["surveys"] == {"asked": 4, "answered": 3, "response_rate": 0.75}
    assert sorted(body["by_queue"]) == ["billing", "default"]
    assert body["by_queue"]["billing"]["conversations"] == 1
    assert body["by_queue"]["billing"]["transfers"] == 1
    assert body["by_channel"]["sms"]["first_response_seconds"]["median"] == 120.0
    assert body["by_agent"][scenario.agent_a]["conversations"] == 2
    assert body["by_day"]["2020-03-02"]["conversations"] == 5
    assert body["period"] == {
        "since": "2020-03-02T00:00:00.000Z",
        "until": "2020-03-03T00:00:00.000Z",
    }


PROTOCOL_KEYS = (
    "conversations",
    "first_response_seconds",
    "resolution_seconds",
    "sla",
    "abandoned",
    "csat",
    "nps",
)


def test_kpis_filtered_by_queue_channel_and_agent(server: Server, scenario: Scenario):
    sms = get(server, channel="sms", **PERIOD).json()
    assert sms["conversations"] == 1
    assert sms["first_response_seconds"] == {"median": 120.0, "p90": 120.0}
    assert sms["csat"] == {"average": None, "responses": 0}
    assert sms["nps"] == {"score": None, "responses": 0}

    billing = get(server, queue="billing", **PERIOD).json()
    assert (billing["conversations"], billing["transfers"]) == (1, 1)
    assert billing["sla"] == {"succeeded": 0, "noncompliant": 1}
    assert billing["resolution_seconds"] == {"median": 1800.0, "p90": 1800.0}

    mine = get(server, agent=scenario.agent_a, **PERIOD).json()
    assert mine["conversations"] == 2
    assert mine["csat"] == {"average": 4.0, "responses": 2}
    assert mine["nps"] == {"score": 0.0, "responses": 2}

    nobody = get(server, queue="no-such-queue", **PERIOD).json()
    assert nobody["conversations"] == 0
    assert nobody["first_response_seconds"] == {"median": None, "p90": None}


def test_kpis_as_csv(server: Server, scenario: Scenario):
    reply = http_get(
        server.http + "/api/v1/reports/kpis",
        params=PERIOD,
        headers={**bearer(_token(server.http, "sam")), "Accept": "text/csv"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    overall = rows[0]
    assert (overall["scope"], overall["conversations"], overall["abandoned"]) == ("all", "5", "1")
    assert float(overall["first_response_median_s"]) == 90.0
    assert float(overall["csat_average"]) == 3.0
    assert overall["nps_score"] == "0.0"
    assert (overall["sla_succeeded"], overall["sla_noncompliant"]) == ("2", "1")
    queues = {r["key"]: r for r in rows if r["scope"] == "queue"}
    assert queues["billing"]["transfers"] == "1"
    assert {r["scope"] for r in rows} == {"all", "queue", "channel", "agent", "day"}


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2020-13-45"},
        {"since": "2020-03-03T00:00:00Z", "until": "2020-03-02T00:00:00Z"},
        {"since": "2020-03-02T00:00:00Z", "until": "2020-03-02T00:00:00Z"},
        {"since": "2018-01-01", "until": "2020-01-01"},
    ],
)
def test_bad_periods_are_400(server: Server, params: dict[str, str]):
    reply = get(server, **params)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_field" and error["message"]


def test_only_supervisors_and_admins_see_kpis(server: Server):
    assert get(server, user="alice", **PERIOD).status_code == 403
    assert get(server, user="ada", **PERIOD).status_code == 200
    anonymous = http_get(server.http + "/api/v1/reports/kpis", params=PERIOD)
    assert anonymous.status_code == 401
