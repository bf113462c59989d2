"""Pre-chat survey and proactive invitations in a running server, over HTTP
and websockets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clients import agent, bearer, msg_id, recv_until, send, token, visitor
from tests.support.server import Server

PASSWORD = "proactive test password"
_names = itertools.count(1)
_today = date.today()
ALL_DAY = "\n".join(
    f'{day} = ["00:00-24:00"]'
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
)
# Closed from yesterday to tomorrow (whatever the time zone): closed now.
HOLIDAYS = [_today + timedelta(days=d) for d in (-1, 0, 1)]
CONFIG = f"""
[[calendars]]
name = "always"
timezone = "UTC"
{ALL_DAY}

[[calendars]]
name = "on holiday"
timezone = "UTC"
{ALL_DAY}
holidays = [{", ".join(f'"{d.isoformat()}"' for d in HOLIDAYS)}]

[routing.queues.default]
[routing.queues.sales]
[routing.queues.billing]

[[routing.intake]]
name = "billing questions"
when = "prechat.topic == 'billing' and prechat.customer == true"
queue = "billing"
priority = 2

[[webchat.prechat]]
name = "topic"
label = "What is it about?"
type = "choice"
choices = ["billing", "cards"]
required = true

[[webchat.prechat]]
name = "order"
type = "text"
max_length = 20

[[webchat.prechat]]
name = "customer"
label = "Already a customer?"
type = "boolean"

[[routing.intake]]
name = "the shop's widget"
when = "context.widget == 'shop'"
queue = "sales"

[[webchat.widgets]]
id = "shop"

[[webchat.widgets.prechat]]
name = "order"
label = "Order number"
required = true
max_length = 10

[[webchat.widgets]]
id = "plain"                   # no survey: any answers

[[proactive]]
name = "pricing"
when = "page_url contains '/pricing' and seconds_on_page >= 30 and agents_available"
message = "Questions about our plans?"
queue = "sales"

[[proactive]]
name = "closed desk"
when = "page_url contains '/contact' and open"
message = "We are here"
calendar = "on holiday"

[[proactive]]
name = "returning"
when = "visits >= 3 and variables.plan == 'pro' and open"
message = "Welcome back!"
calendar = "always"
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("proactive")
    server = Server(
        workdir,
        f"sqlite:///{workdir}/db.sqlite3",
        config=CONFIG,
        SWITCHBOARD_USERS=(
            '[{"username": "boss", "role": "supervisor", "password_env": "PA_PASSWORD"},'
            ' {"username": "root", "role": "admin", "password_env": "PA_PASSWORD"}]'
        ),
        PA_PASSWORD=PASSWORD,
    )
    with server:
        yield server


def new_agent(srv: Server, **fields: object) -> str:
    name = f"agent{next(_names)}"
    admin = token(srv.http, "root", PASSWORD)
    body = {"username": name, "password": PASSWORD, **fields}
    created = httpx.post(srv.http + "/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return token(srv.http, name, PASSWORD)


def conversations(srv: Server) -> int:
    boss = bearer(token(srv.http, "boss", PASSWORD))
    reply = httpx.get(srv.http + "/api/v1/conversations?limit=1000", headers=boss)
    return len(reply.json()["conversations"])


def ask(srv: Server, **body: Any) -> httpx.Response:
    return httpx.post(srv.http + "/api/v1/webchat/proactive", json=body)


# -- pre-chat ----------------------------------------------------------------------


def test_the_widget_config_lists_the_survey(srv: Server):
    reply = httpx.get(srv.http + "/api/v1/webchat/config")
    assert reply.status_code == 200
    assert reply.json() == {
        "widget": "default",
        "prechat": {
            "fields": [
                {
                    "name": "topic",
                    "label": "What is it about?",
                    "type": "choice",
                    "required": True,
                    "choices": ["billing", "cards"],
                },
                {
                    "name": "order",
                    "label": "order",
                    "type": "text",
                    "required": False,
                    "max_length": 20,
                },
                {
                    "name": "customer",
                    "label": "Already a customer?",
                    "type": "boolean",
                    "required": False,
                },
            ]
        },
        "proactive": {"enabled": True},
    }


@pytest.mark.parametrize(
    ("prechat", "code", "field"),
    [
        ({}, "missing_field", "prechat.topic"),
        ({"topic": ""}, "missing_field", "prechat.topic"),
        ({"topic": "loans"}, "invalid_field", "prechat.topic"),
        ({"topic": ["billing"]}, "invalid_field", "prechat.topic"),
        ({"topic": "cards", "customer": "yes"}, "invalid_field", "prechat.customer"),
        ({"topic": "cards", "order": "x" * 21}, "invalid_field", "prechat.order"),
        ({"topic": "cards", "shoe_size": 42}, "invalid_field", "prechat.shoe_size"),
    ],
)
def test_bad_prechat_answers_are_refused_and_nothing_is_stored(
    srv: Server, prechat: dict[str, Any], code: str, field: str
):
    before = conversations(srv)
    reply = httpx.post(
        srv.http + "/api/v1/webchat/sessions", json={"name": "Kim", "prechat": prechat}
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == code and error["message"].startswith(field + ":")
    assert conversations(srv) == before


async def test_answers_drive_intake_and_are_shown_on_the_offer(srv: Server):
    ws, _ = await agent(srv.ws, new_agent(srv, queues=["billing"]))
    reply = httpx.post(
        srv.http + "/api/v1/webchat/sessions",
        json={"name": "Kim", "prechat": {"topic": "billing", "customer": True, "order": " A1 "}},
    )
    assert reply.status_code == 201, reply.text
    session = reply.json()
    v, _ = await visitor(srv.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="a question about my bill")
    offer = await recv_until(ws, "offer", conversation_id=session["conversation_id"])
    assert offer["queue"] == "billing"
    assert offer["context"]["prechat"] == {"topic": "billing", "customer": True, "order": "A1"}
    await send(ws, type="reject", offer_id=offer["offer_id"])
    await asyncio.gather(ws.close(), v.close())


def session(srv: Server, **body: Any) -> httpx.Response:
    return httpx.post(srv.http + "/api/v1/webchat/sessions", json={"name": "Kim", **body})


def test_each_widget_has_its_own_survey(srv: Server):
    shop = httpx.get(srv.http + "/api/v1/webchat/config", params={"widget": "shop"}).json()
    assert shop["widget"] == "shop"
    assert shop["prechat"]["fields"] == [
        {
            "name": "order",
            "label": "Order number",
            "type": "text",
            "required": True,
            "max_length": 10,
        }
    ]
    plain = httpx.get(srv.http + "/api/v1/webchat/config", params={"widget": "plain"}).json()
    assert plain["prechat"]["fields"] == []
    named = httpx.get(srv.http + "/api/v1/webchat/config", params={"widget": "default"}).json()
    assert [f["name"] for f in named["prechat"]["fields"]] == ["topic", "order", "customer"]


def test_an_unknown_widget_is_a_clear_error_and_nothing_is_stored(srv: Server):
    reply = httpx.get(srv.http + "/api/v1/webchat/config", params={"widget": "nope"})
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["code"] == "unknown_widget"
    assert error["message"] == "unknown widget 'nope'; widgets: default, shop, plain"
    before = conversations(srv)
    for widget in ("nope", "", "x" * 65):
        reply = session(srv, widget=widget, prechat={"order": "A-1"})
        assert reply.status_code == 400, reply.text
    assert session(srv, widget="nope").json()["error"]["code"] == "unknown_widget"
    assert conversations(srv) == before


@pytest.mark.parametrize(
    ("widget", "prechat", "code", "field"),
    [
        ("shop", {}, "missing_field", "prechat.order"),
        ("shop", {"order": "A-1", "topic": "cards"}, "invalid_field", "prechat.topic"),
        ("shop", {"order": "A-123456789"}, "invalid_field", "prechat.order"),
        ("default", {"order": "A-1"}, "missing_field", "prechat.topic"),
    ],
)
def test_answers_are_checked_against_the_widgets_own_survey(
    srv: Server, widget: str, prechat: dict[str, Any], code: str, field: str
):
    reply = session(srv, widget=widget, prechat=prechat)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == code and error["message"].startswith(field + ":")


async def test_a_widgets_answers_and_id_reach_intake_and_the_offer(srv: Server):
    ws, _ = await agent(srv.ws, new_agent(srv, queues=["sales"]))
    reply = session(srv, widget="shop", prechat={"order": " A-1 "}, context={"widget": "fake"})
    assert reply.status_code == 201, reply.text
    created = reply.json()
    v, _ = await visitor(srv.ws, created["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="where is my order?")
    offer = await recv_until(ws, "offer", conversation_id=created["conversation_id"])
    assert offer["queue"] == "sales"
    assert offer["context"]["prechat"] == {"order": "A-1"}
    boss = bearer(token(srv.http, "boss", PASSWORD))
    path = f"/api/v1/conversations/{created['conversation_id']}/context"
    stored = httpx.get(srv.http + path, headers=boss).json()
    assert stored["context"]["widget"] == "shop"  # the server's, not the page's
    # Closed, so that no later test's sales agent is busy with it.
    closed = httpx.post(
        f"{srv.http}/api/v1/conversations/{created['conversation_id']}/close", headers=boss
    )
    assert closed.status_code == 200, closed.text
    await asyncio.gather(ws.close(), v.close())
    anything = session(srv, widget="plain", prechat={"free": ["form", 1]})
    assert anything.status_code == 201, anything.text


# -- proactive -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seconds_on_page": 3}, "page_url"),
        ({"page_url": "https://x.test/"}, "seconds_on_page"),
        ({"page_url": "https://x.test/", "seconds_on_page": "30"}, "seconds_on_page"),
        ({"page_url": "https://x.test/", "seconds_on_page": -1}, "seconds_on_page"),
        ({"page_url": 7, "seconds_on_page": 3}, "page_url"),
        ({"page_url": "https://x.test/", "seconds_on_page": 3, "visits": 2.5}, "visits"),
        ({"page_url": "https://x.test/", "seconds_on_page": 3, "visits": True}, "visits"),
        (
            {"page_url": "https://x.test/", "seconds_on_page": 3, "variables": {"a": {}}},
            "variables",
        ),
        ({"page_url": "https://x.test/", "seconds_on_page": 3, "colour": "red"}, "colour"),
    ],
)
def test_bad_proactive_requests_are_refused(srv: Server, body: dict[str, Any], field: str):
    reply = ask(srv, **body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["message"].startswith(field)


async def test_invitations_follow_the_rules_and_the_free_agents(srv: Server):
    pricing = {"page_url": "https://shop.test/pricing?plan=pro", "seconds_on_page": 45}
    assert ask(srv, **pricing).json() == {"invitation": None}  # nobody serves sales
    assert ask(srv, **pricing, visits=3, variables={"plan": "pro"}).json() == {
        "invitation": {"rule": "returning", "message": "Welcome back!"}
    }
    tok = new_agent(srv, queues=["sales"])
    ws, _ = await agent(srv.ws, tok)
    assert ask(srv, **pricing).json() == {
        "invitation": {"rule": "pricing", "message": "Questions about our plans?"}
    }
    assert ask(srv, **{**pricing, "seconds_on_page": 10}).json() == {"invitation": None}

    # The visitor accepts; the chat opened from it goes to the rule's queue.
    accepted = httpx.post(srv.http + "/api/v1/webchat/proactive/pricing/accepted")
    assert accepted.status_code == 200
    assert accepted.json() == {"rule": "pricing", "outcome": "accepted"}
    reply = httpx.post(
        srv.http + "/api/v1/webchat/sessions",
        json={"prechat": {"topic": "cards"}, "context": {"proactive": "pricing"}},
    )
    session = reply.json()
    v, _ = await visitor(srv.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="which plan fits a team of 5?")
    offer = await recv_until(ws, "offer", conversation_id=session["conversation_id"])
    assert offer["queue"] == "sales"
    await asyncio.gather(ws.close(), v.close())


def test_business_hours_gate_an_invitation(srv: Server):
    contact = {"page_url": "https://shop.test/contact", "seconds_on_page": 5}
    assert ask(srv, **contact).json() == {"invitation": None}  # its calendar is closed now
    returning = {**contact, "visits": 4, "variables": {"plan": "pro"}}
    assert ask(srv, **returning).json()["invitation"]["rule"] == "returning"  # "always" is open


def test_outcomes_are_counted_and_reported_to_supervisors(srv: Server):
    before = {
        row["rule"]: row
        for row in httpx.get(
            srv.http + "/api/v1/reports/proactive",
            headers=bearer(token(srv.http, "boss", PASSWORD)),
        ).json()["rules"]
    }
    shown = ask(
        srv, page_url="https://x.test/", seconds_on_page=1, visits=5, variables={"plan": "pro"}
    )
    assert shown.json()["invitation"]["rule"] == "returning"
    assert httpx.post(srv.http + "/api/v1/webchat/proactive/returning/declined").status_code == 200
    unknown = httpx.post(srv.http + "/api/v1/webchat/proactive/nope/accepted")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_rule"
    assert httpx.post(srv.http + "/api/v1/webchat/proactive/returning/ignored").status_code == 404

    report = httpx.get(
        srv.http + "/api/v1/reports/proactive", headers=bearer(token(srv.http, "boss", PASSWORD))
    )
    assert report.status_code == 200
    rows = {row["rule"]: row for row in report.json()["rules"]}
    assert rows["returning"]["shown"] == before["returning"]["shown"] + 1
    assert rows["returning"]["declined"] == before["returning"]["declined"] + 1
    assert rows["returning"]["accepted"] == before["returning"]["accepted"]
    assert set(rows) == {"pricing", "closed desk", "returning"}
    assert report.json()["since"].endswith("Z")

    assert httpx.get(srv.http + "/api/v1/reports/proactive").status_code == 401
    agent_token = new_agent(srv)
    forbidden = httpx.get(srv.http + "/api/v1/reports/proactive", headers=bearer(agent_token))
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('queue = "nowhere"', "proactive rule 'x': unknown queue 'nowhere'"),
        ('calendar = "office"', "proactive rule 'x': unknown calendar 'office'"),
    ],
)
def test_a_rule_naming_something_unknown_stops_the_server(tmp_path: Path, extra: str, message: str):
    bad = f'[[proactive]]\nname = "x"\nwhen = "true"\nmessage = "hi"\n{extra}\n'
    server = Server(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", config=bad)
    with pytest.raises(RuntimeError, match=message):
        server.start()
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    checked = server.cli("check-config", str(path))
    assert checked.returncode == 2 and message in checked.stderr
