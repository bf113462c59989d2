"""Record creation rules and device alerts on a configured server (SQLite and PostgreSQL):
mail → case → threaded reply → reopen, SMS → case, API keys and alerts → cases."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from tests.conftest import PASSWORD
from tests.standins.payloads import ACCOUNT_SID, OUR_NUMBER, twilio_sms
from tests.standins.signing import twilio_request
from tests.support.channels import AUTH_TOKEN, SUPPORT, seeded_users
from tests.support.clients import bearer, token
from tests.support.server import Server
from tests.support.services import scratch_postgres

CONFIG = """
[[record_rules]]
channel = "email"
when = "to == 'support@example.com' and not (subject contains 'newsletter')"
action = "create_case"

[[record_rules]]
channel = "sms"
action = "create_case"
priority = "high"

[cases]
follow_up = "reopen"
follow_up_window = "7d"
alert_window = "1h"

[[cases.alert_rules]]
name = "critical devices"
when = "severity == 'critical'"
priority = "urgent"
"""
WAIT_S = 15.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def rules_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("record-rules")
    env = {
        **seeded_users(),
        "SWITCHBOARD_EMAIL_ADDRESSES": SUPPORT,
        "SWITCHBOARD_EMAIL_FROM": SUPPORT,
        "SWITCHBOARD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SWITCHBOARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SWITCHBOARD_TWILIO_FROM": OUR_NUMBER,
    }
    if request.param == "sqlite":
        with Server(workdir, f"sqlite:///{workdir / 'db.sqlite3'}", CONFIG, **env) as srv:
            yield srv
    else:
        with scratch_postgres() as url, Server(workdir, url, CONFIG, **env) as srv:
            yield srv


@pytest.fixture(scope="module")
def sam(rules_server: Server) -> dict[str, str]:
    return bearer(token(rules_server.http, "sam", PASSWORD))


def wait_for(probe: Callable[[], Any], what: str) -> Any:
    """Poll the server's state until ``probe`` gives something truthy (the
    rules run just after the message is stored, off the request)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def api(srv: Server, headers: dict[str, str], method: str, path: str, **kw: Any) -> Any:
    reply = httpx.request(method, srv.http + "/api/v1" + path, headers=headers, **kw)
    assert reply.status_code < 300, reply.text
    return reply.json()


def mail(
    body: str,
    *,
    sender: str,
    subject: str,
    message_id: str,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


async def send_mail(srv: Server, raw: bytes, sender: str) -> None:
    await aiosmtplib.send(
        raw, sender=sender, recipients=[SUPPORT], hostname="127.0.0.1", port=srv.smtp_port
    )


def conversations_of(srv: Server, headers: dict[str, str], email: str) -> list[dict[str, Any]]:
    found = api(srv, headers, "GET", "/conversations")["conversations"]
    return [c for c in found if c["customer"]["email"] == email]


async def test_mail_opens_a_case_its_thread_stays_on_it_and_a_late_reply_reopens_it(
    rules_server: Server, sam: dict[str, str]
):
    srv, customer = rules_server, "jane@customer.example"
    first_id = make_msgid(domain="customer.example")
    await send_mail(
        srv,
        mail(
            "Hello,\nmy widget is broken.\n",
            sender=f"Jane <{customer}>",
            subject="Broken widget",
            message_id=first_id,
        ),
        customer,
    )
    (conversation,) = wait_for(
        lambda: [c for c in conversations_of(srv, sam, customer) if c["case_id"]],
        "the case of the mail",
    )
    case = api(srv, sam, "GET", f"/cases/{conversation['case_id']}")
    assert (case["title"], case["origin"], case["status"]) == ("Broken widget", "email", "active")
    assert case["conversations"] == [conversation["id"]]
    assert case["customer"]["email"] == customer

    # A reply in the same thread joins the conversation and stays on the case.
    reply_id = make_msgid(domain="customer.example")
    await send_mail(
        srv,
        mail(
            "Any news?\n",
            sender=customer,
            subject="Re: Broken widget",
            message_id=reply_id,
            in_reply_to=first_id,
        ),
        customer,
    )
    wait_for(
        lambda: (
            len(api(srv, sam, "GET", f"/conversations/{conversation['id']}/messages")["messages"])
            == 2
        ),
        "the threaded reply",
    )
    cases = api(srv, sam, "GET", "/cases", params={"customer_id": case["customer"]["id"]})
    assert [c["id"] for c in cases["cases"]] == [case["id"]]

    # Resolved, the conversation closed: a reply to the thread opens a new
    # conversation, which joins the case and reopens it (within the window).
    api(srv, sam, "POST", f"/cases/{case['id']}/resolve", json={"resolution": "sent a new one"})
    api(srv, sam, "POST", f"/conversations/{conversation['id']}/close")
    late_id = make_msgid(domain="customer.example")
    await send_mail(
        srv,
        mail(
            "It broke again.\n",
            sender=customer,
            subject="Re: Broken widget",
            message_id=late_id,
            in_reply_to=reply_id,
        ),
        customer,
    )
    reopened = wait_for(
        lambda: (c := api(srv, sam, "GET", f"/cases/{case['id']}"))["status"] == "active" and c,
        "the case to reopen",
    )
    assert len(reopened["conversations"]) == 2
    assert reopened["conversations"][0] == conversation["id"]
    cases = api(srv, sam, "GET", "/cases", params={"customer_id": case["customer"]["id"]})
    assert len(cases["cases"]) == 1
    timeline = api(srv, sam, "GET", f"/cases/{case['id']}/timeline")["items"]
    texts = [i["text"] for i in timeline if i["kind"] == "message"]
    assert len(texts) == 3 and "broke again" in texts[-1]


async def test_mail_not_matching_the_rule_opens_no_case(rules_server: Server, sam: dict[str, str]):
    srv, customer, other = rules_server, "news@customer.example", "kim@customer.example"
    await send_mail(
        srv,
        mail(
            "Read all about it",
            sender=customer,
            subject="Our newsletter",
            message_id=make_msgid(domain="customer.example"),
        ),
        customer,
    )
    # The rules take messages in order: once a later mail has its case, the
    # newsletter has been judged.
    await send_mail(
        srv,
        mail(
            "Help",
            sender=other,
            subject="Login fails",
            message_id=make_msgid(domain="customer.example"),
        ),
        other,
    )
    wait_for(lambda: [c for c in conversations_of(srv, sam, other) if c["case_id"]], "Kim's case")
    (conversation,) = conversations_of(srv, sam, customer)
    assert conversation["case_id"] is None


def post_sms(srv: Server, text: str, sid: str, sender: str) -> None:
    path = "/webhooks/twilio/sms"
    body, headers = twilio_request(
        AUTH_TOKEN, srv.http + path, twilio_sms(text, sid=sid, sender=sender)
    )
    reply = httpx.post(srv.http + path, content=body, headers=headers)
    assert reply.status_code == 200, reply.text


def test_an_sms_opens_a_case_titled_by_its_first_line(rules_server: Server, sam: dict[str, str]):
    srv, phone = rules_server, "+14155550177"
    post_sms(srv, "Router down\nsince this morning", "SM" + "c" * 32, phone)

    def case_of_sms() -> Any:
        found = api(srv, sam, "GET", "/conversations")["conversations"]
        return next((c for c in found if c["customer"]["phone"] == phone and c["case_id"]), None)

    conversation = wait_for(case_of_sms, "the SMS case")
    case = api(srv, sam, "GET", f"/cases/{conversation['case_id']}")
    assert (case["title"], case["priority"], case["origin"]) == ("Router down", "high", "sms")
    post_sms(srv, "still down", "SM" + "d" * 32, phone)
    wait_for(
        lambda: (
            len(api(srv, sam, "GET", f"/conversations/{conversation['id']}/messages")["messages"])
            == 2
        ),
        "the second SMS",
    )
    cases = api(srv, sam, "GET", "/cases", params={"customer_id": case["customer"]["id"]})
    assert len(cases["cases"]) == 1


def test_device_alerts_need_a_key_count_repeats_and_critical_ones_open_a_case(
    rules_server: Server, sam: dict[str, str]
):
    srv = rules_server
    url = srv.http + "/api/v1/device-alerts"
    alert = {
        "device_id": "boiler-7",
        "alert_type": "overheat",
        "severity": "warning",
        "description": "92 °C",
    }
    before = api(srv, sam, "GET", "/device-alerts")["alerts"]
    for headers in ({}, {"X-Api-Key": "sbk_not-a-key"}, {"X-Api-Key": ""}):
        reply = httpx.post(url, json=alert, headers=headers)
        assert reply.status_code == 401, reply.text
        assert reply.json()["error"]["code"] == "invalid_api_key"
    assert api(srv, sam, "GET", "/device-alerts")["alerts"] == before  # nothing stored

    made = srv.cli("apikeys", "add", "boilers")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sbk_") and len(key) > 30
    again = srv.cli("apikeys", "add", "boilers")
    assert again.returncode == 1 and "exists" in again.stderr
    listed = srv.cli("apikeys", "list")
    assert "boilers" in listed.stdout and key not in listed.stdout
    headers = {"X-Api-Key": key}

    first = httpx.post(url, json=alert, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["count"] == 1 and "case_id" not in first.json()
    second = httpx.post(url, json=alert, headers=headers).json()
    assert (second["alert_id"], second["count"]) == (first.json()["alert_id"], 2)
    other = httpx.post(url, json={**alert, "alert_type": "pressure"}, headers=headers).json()
    assert other["alert_id"] != second["alert_id"] and other["count"] == 1

    for bad in (
        {**alert, "device_id": ""},
        {"device_id": "x"},
        {**alert, "colour": 1},
        {**alert, "customer_id": "cu_nobody"},
    ):
        assert httpx.post(url, json=bad, headers=headers).status_code == 400

    # Getting critical: the rule opens one urgent case, and only one.
    critical = httpx.post(url, json={**alert, "severity": "critical"}, headers=headers).json()
    assert critical["count"] == 3 and critical["case_id"]
    case = api(srv, sam, "GET", f"/cases/{critical['case_id']}")
    assert (case["priority"], case["origin"]) == ("urgent", "device")
    assert "boiler-7" in case["title"]
    more = httpx.post(url, json={**alert, "severity": "critical"}, headers=headers).json()
    assert (more["count"], more["case_id"]) == (4, critical["case_id"])
    stored = {a["id"]: a for a in api(srv, sam, "GET", "/device-alerts")["alerts"]}
    assert stored[critical["alert_id"]]["case_id"] == critical["case_id"]

    # Resolving the case closes the alert: the next report starts a new one.
    api(srv, sam, "POST", f"/cases/{critical['case_id']}/resolve", json={"resolution": "fan"})
    fresh = httpx.post(url, json=alert, headers=headers).json()
    assert fresh["alert_id"] != critical["alert_id"] and fresh["count"] == 1
    closed = api(srv, sam, "POST", f"/device-alerts/{fresh['alert_id']}/close")
    assert closed["status"] == "closed"
    newer = httpx.post(url, json=alert, headers=headers).json()
    assert newer["alert_id"] != fresh["alert_id"] and newer["count"] == 1
    assert httpx.post(f"{url}/al_nothing/close", headers=sam).status_code == 404

    revoked = srv.cli("apikeys", "revoke", "boilers")
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.post(url, json=alert, headers=headers).status_code == 401
    assert srv.cli("apikeys", "revoke", "boilers").returncode == 1
