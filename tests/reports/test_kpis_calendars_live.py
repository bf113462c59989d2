"""KPIs in business time, each conversation in the calendar of the SLA policy
that applies to it, through a running server on SQLite and PostgreSQL.

Two parts: a past week written straight into the database (exact numbers,
with a DST change in New York), and live chats whose clocks the SLA runtime
starts, so the calendar the report uses is the one the runtime stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conversations.times import utcnow
from sla.calendar import WEEKDAYS
from tests.conftest import PASSWORD
from tests.reports.test_kpis_live import Scenario
from tests.support.channels import seeded_users
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    recv_until,
    send,
    taken_session,
    token,
    visitor,
)
from tests.support.server import Server
from tests.support.services import scratch_postgres

http_get = functools.partial(httpx.get, timeout=30.0)
http_post = functools.partial(httpx.post, timeout=30.0)


def config() -> str:
    # Open on one weekday three days away only: a chat of a few seconds now
    # holds no open time in it.
    closed_day = WEEKDAYS[(utcnow().weekday() + 3) % 7]
    office = '"09:00-17:00"'
    weekdays = "\n".join(f"{day} = [{office}]" for day in WEEKDAYS[:5])
    always = "\n".join(f'{day} = ["00:00-24:00"]' for day in WEEKDAYS)
    return f"""
[[calendars]]
name = "rome"
timezone = "Europe/Rome"
{weekdays}

[[calendars]]
name = "new york"
timezone = "America/New_York"
{weekdays}

[[calendars]]
name = "always"
timezone = "UTC"
{always}

[[calendars]]
name = "elsewhere"
timezone = "UTC"
{closed_day} = ["09:00-10:00"]

[[sla]]
name = "always open"
when = "customer.name == 'Always'"
calendar = "always"
kpis = [ {{ kpi = "first_response", warn_after = "1h", fail_after = "2h" }},
         {{ kpi = "resolution", warn_after = "4h", fail_after = "8h" }} ]

[[sla]]
name = "office elsewhere"
when = "customer.name == 'Closed'"
calendar = "elsewhere"
kpis = [ {{ kpi = "first_response", warn_after = "1h", fail_after = "2h" }},
         {{ kpi = "resolution", warn_after = "4h", fail_after = "8h" }} ]
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server on a database of its own: only this module's conversations
    fall in the periods it asks about."""
    workdir = tmp_path_factory.mktemp("kpical")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{workdir / 'kpis.sqlite3'}"
        else:
            url = stack.enter_context(scratch_postgres())
        srv = stack.enter_context(Server(workdir, url, config=config(), **seeded_users()))
        yield srv


@functools.cache
def _token(http: str, user: str) -> str:
    return token(http, user, PASSWORD)


def kpis(server: Server, **params: str) -> dict[str, Any]:
    reply = http_get(
        server.http + "/api/v1/reports/kpis",
        params=params,
        headers=bearer(_token(server.http, "sam")),
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


FRIDAY = datetime(2020, 3, 6, tzinfo=UTC)
MONDAY = datetime(2020, 3, 9, tzinfo=UTC)  # New York moved to EDT on Sunday the 8th


def weekend_ticket(s: Scenario, name: str, channel: str, calendar: str | None) -> str:
    """Asked Friday 15:50 UTC (16:50 in Rome, 10:50 in New York), answered
    Monday, closed an hour later."""
    asked = FRIDAY + timedelta(hours=15, minutes=50)
    answered = MONDAY + timedelta(hours=8 if channel == "webchat" else 14, minutes=10)
    cid = s.conversation(
        name,
        channel=channel,
        queue="default",
        agent=s.agent_a,
        created=asked,
        closed=answered + timedelta(hours=1),
        messages=[("customer", asked), ("agent", answered)],
    )
    if calendar is not None:
        for kpi in ("first_response", "resolution"):
            s.rows["sla"].append(
                {
                    "subject_kind": "conversation",
                    "subject_id": cid,
                    "kpi": kpi,
                    "status": "succeeded",
                    "calendar": calendar,
                }
            )
    return cid


def test_a_past_week_counts_each_conversation_in_its_policys_calendar(server: Server):
    s = Scenario()
    weekend_ticket(s, "rome", "webchat", "rome")  # answered 09:10 Rome
    weekend_ticket(s, "ny", "sms", "new york")  # answered 10:10 EDT
    plain = weekend_ticket(s, "plain", "email", None)  # no policy: 24x7
    s.survey(plain, MONDAY, csat=4)
    s.transfer(plain, MONDAY)
    s.write(server.database_url)

    body = kpis(server, since="2020-03-06", until="2020-03-07")
    by_channel = body["by_channel"]
    # Rome: 16:50-17:00 Friday, 09:00-09:10 Monday; closed 10:10 Monday.
    assert by_channel["webchat"]["first_response_seconds"]["median"] == 1200.0
    assert by_channel["webchat"]["resolution_seconds"]["median"] == 600.0 + 4200.0
    # New York: 10:50-17:00 Friday, 09:00-10:10 Monday (EDT); closed 11:10.
    assert by_channel["sms"]["first_response_seconds"]["median"] == 22200.0 + 4200.0
    assert by_channel["sms"]["resolution_seconds"]["median"] == 22200.0 + 7800.0
    # 24x7: 15:50 Friday to 14:10 Monday.
    elapsed = (MONDAY + timedelta(hours=14, minutes=10)) - (
        FRIDAY + timedelta(hours=15, minutes=50)
    )
    assert by_channel["email"]["first_response_seconds"]["median"] == elapsed.total_seconds()
    assert body["first_response_seconds"]["median"] == 26400.0
    assert body["sla"] == {"succeeded": 4, "noncompliant": 0}
    assert (body["transfers"], body["csat"]["average"]) == (1, 4.0)
    assert "calendar" not in body["filters"]


async def chat(server: Server, supervisor: Any, user: str, name: str) -> str:
    """A web chat taken by ``user``: the customer asks, the agent answers, a
    supervisor closes it."""
    tok = _token(server.http, user)
    session = taken_session(server.http, tok, name=name)
    cid: str = session["conversation_id"]
    v, _ = await visitor(server.ws, session["visitor_token"])
    a, _ = await agent(server.ws, tok)
    await send(v, type="message", client_msg_id=msg_id(), text="where is my parcel?")
    await recv_until(supervisor, "sla", id=cid, kpi="first_response", status="in_progress")
    await send(a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Here!")
    await recv_until(supervisor, "sla", id=cid, kpi="first_response", status="succeeded")
    closed = http_post(
        server.http + f"/api/v1/conversations/{cid}/close",
        headers=bearer(_token(server.http, "sam")),
    )
    assert closed.status_code == 200, closed.text
    await recv_until(supervisor, "sla", id=cid, kpi="resolution", status="succeeded")
    await asyncio.gather(v.close(), a.close())
    return cid


async def test_live_chats_count_in_the_calendar_their_clocks_started_in(server: Server):
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    s, _ = await agent(server.ws, _token(server.http, "sam"))
    await chat(server, s, "alice", "Always")
    await chat(server, s, "bob", "Closed")
    await s.close()
    until = (utcnow() + timedelta(minutes=1)).isoformat()
    alice = kpis(server, since=since, until=until, agent="alice")
    bob = kpis(server, since=since, until=until, agent="bob")
    assert (alice["conversations"], bob["conversations"]) == (1, 1)
    # Open all the time: the elapsed seconds, more than none.
    assert alice["first_response_seconds"]["median"] > 0
    assert alice["resolution_seconds"]["median"] > alice["first_response_seconds"]["median"]
    # The other policy's office was closed throughout: no business time passed.
    assert bob["first_response_seconds"] == {"median": 0.0, "p90": 0.0}
    assert bob["resolution_seconds"] == {"median": 0.0, "p90": 0.0}
    assert bob["sla"] == {"succeeded": 2, "noncompliant": 0}


def test_a_calendar_parameter_is_refused(server: Server):
    reply = http_get(
        server.http + "/api/v1/reports/kpis",
        params={"calendar": "rome"},
        headers=bearer(_token(server.http, "sam")),
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_field" and "SLA policy" in error["message"]
