"""SLA clocks through a running server, on SQLite and PostgreSQL: live ``sla``
frames, the conversation's ``sla`` list, actions, and timers that survive a
restart without firing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.standins.smtp_sink import SmtpSink
from tests.support.channels import seeded_users
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    new_session,
    recv_until,
    send,
    taken_session,
    token,
    visitor,
)
from tests.support.server import Server
from tests.support.services import scratch_postgres

CONFIG = """
[routing.queues.default]
[routing.queues.escalations]

[[sla]]
name = "held too long"
when = "customer.name == 'Held'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "1s"
fail_after = "1h"
on_warning = ["notify", "reassign:escalations"]

[[sla]]
name = "waiting line"
when = "customer.name == 'Waiting'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "1s"
fail_after = "1h"
on_warning = ["queue:escalations"]

[[sla]]
name = "again"
applies_to = "case"
when = "title == 'Again'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "1h"
fail_after = "2h"
[[sla.kpis]]
kpi = "resolution"
warn_after = "2s"
fail_after = "1h"
on_warning = ["notify", "raise_priority", "reassign", "email:cases@example.com"]
[[sla.kpis]]
kpi = "root_caused"
warn_after = "1h"
fail_after = "2h"
succeed_when = "fields.root_cause != null"

[[sla]]
name = "fast chat"
when = "customer.name == 'Fast'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "1s"
fail_after = "2s"
on_warning = ["notify", "email:ops@example.com"]
on_failure = ["notify", "raise_priority:2"]
[[sla.kpis]]
kpi = "resolution"
warn_after = "1h"
fail_after = "2h"

[[sla]]
name = "chat"
when = "channel == 'webchat'"
kpis = [ { kpi = "first_response", warn_after = "30s", fail_after = "60s" } ]

[[sla]]
name = "case"
applies_to = "case"
when = "priority == 'high'"
pause_on = ["on_hold", "waiting_for_details"]
kpis = [ { kpi = "resolution", warn_after = "1h", fail_after = "2h" } ]
"""

RESTART_CONFIG = """
[[sla]]
name = "restart"
when = "customer.name == 'Now'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "1s"
fail_after = "1h"
on_warning = ["email:restart@example.com"]

[[sla]]
name = "later"
when = "customer.name == 'Later'"
[[sla.kpis]]
kpi = "first_response"
warn_after = "4s"
fail_after = "1h"
on_warning = ["email:restart@example.com"]
"""


def mail_env(relay: SmtpSink) -> dict[str, str]:
    return {
        "SWITCHBOARD_EMAIL_FROM": "support@example.com",
        "SWITCHBOARD_SMTP_RELAY": f"127.0.0.1:{relay.port}",
        "SWITCHBOARD_SMTP_RELAY_STARTTLS": "false",
        **seeded_users(),
    }


class Rig:
    def __init__(self, server: Server, relay: SmtpSink) -> None:
        self.server, self.relay = server, relay

    def mails_to(self, address: str) -> list[Any]:
        return [m for m in self.relay.received if address in m.rcpt_tos]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of this module's own: its seeded accounts and clocks meet
    no other module's (the session's shared server adds its users by hand)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sladb') / 'sla.sqlite3'}"
    else:
        with scratch_postgres() as url:
            yield url


@pytest.fixture(scope="module")
async def rig(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    async with SmtpSink() as relay:
        workdir = tmp_path_factory.mktemp("sla")
        server = Server(workdir, database_url, config=CONFIG, **mail_env(relay))
        await asyncio.to_thread(server.start)
        try:
            yield Rig(server, relay)
        finally:
            await asyncio.to_thread(server.stop)


async def shown(server: Server, cid: str, tok: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=bearer(tok)) as client:
        reply = await client.get(server.http + f"/api/v1/conversations/{cid}")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def kpi_status(server: Server, cid: str, tok: str, kpi: str, want: str) -> dict[str, Any]:
    """The conversation's ``kpi`` entry once it shows ``want`` (stored changes
    follow the live frame by a moment)."""
    async with asyncio.timeout(10):
        while True:
            entries = {e["kpi"]: e for e in (await shown(server, cid, tok))["sla"]}
            if kpi in entries and entries[kpi]["status"] == want:
                return entries[kpi]
            await asyncio.sleep(0.05)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_unanswered_chat_goes_through_warning_and_failure(rig: Rig):
    server = rig.server
    sam = token(server.http, "sam", PASSWORD)
    s, _ = await agent(server.ws, sam)
    session = new_session(server.http, name="Fast")
    cid = session["conversation_id"]
    before = (await shown(server, cid, sam))["priority"]
    v, _ = await visitor(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello, anyone?")

    started = await recv_until(s, "sla", id=cid, kpi="first_response", status="in_progress")
    assert started["subject"] == "conversation" and started["sla"] == "fast chat"
    warning_at, failure_at = at(started["warning_at"]), at(started["failure_at"])
    assert (failure_at - warning_at).total_seconds() == pytest.approx(1, abs=0.01)
    warned = await recv_until(s, "sla", id=cid, kpi="first_response")
    assert warned["status"] == "nearing_noncompliance"
    failed = await recv_until(s, "sla", id=cid, kpi="first_response")
    assert failed["status"] == "noncompliant"
    assert set(failed) == {
        "type", "subject", "id", "sla", "kpi", "status", "warning_at", "failure_at"
    }  # fmt: skip

    entry = await kpi_status(server, cid, sam, "first_response", "noncompliant")
    assert entry["completed_at"] is None and entry["started_at"] is not None
    resolution = await kpi_status(server, cid, sam, "resolution", "in_progress")
    assert resolution["sla"] == "fast chat"
    # The warning mailed the address; the failure raised the waiting chat's priority.
    async with asyncio.timeout(10):
        while not rig.mails_to("ops@example.com") or (
            (await shown(server, cid, sam))["priority"] != before + 2
        ):
            await asyncio.sleep(0.05)
    (mail,) = [m for m in rig.mails_to("ops@example.com") if cid in m.message.get_content()]
    assert "nearing_noncompliance" in mail.message["Subject"]

    closed = httpx.post(server.http + f"/api/v1/conversations/{cid}/close", headers=bearer(sam))
    assert closed.status_code == 200, closed.text
    done = await recv_until(s, "sla", id=cid, kpi="resolution", status="succeeded")
    assert done["sla"] == "fast chat"
    entry = await kpi_status(server, cid, sam, "resolution", "succeeded")
    assert entry["completed_at"] is not None
    await asyncio.gather(s.close(), v.close())


async def test_agent_reply_in_time_succeeds_and_the_owner_hears_of_it(rig: Rig):
    server = rig.server
    alice, sam = token(server.http, "alice", PASSWORD), token(server.http, "sam", PASSWORD)
    session = taken_session(server.http, alice, name="Quick")
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    v, _ = await visitor(server.ws, session["visitor_token"])
    # Before the customer writes there is no clock (an agent's greeting starts none).
    assert (await shown(server, cid, sam))["sla"] == []
    await send(v, type="message", client_msg_id=msg_id(), text="my order is late")
    await recv_until(a, "message", conversation_id=cid)
    started = await recv_until(a, "sla", id=cid, kpi="first_response")
    assert started["status"] == "in_progress" and started["sla"] == "chat"
    await send(a, type="message", conversation_id=cid, client_msg_id=msg_id(), text="On it!")
    done = await recv_until(a, "sla", id=cid, kpi="first_response")
    assert done["status"] == "succeeded"
    entry = await kpi_status(server, cid, sam, "first_response", "succeeded")
    assert at(entry["completed_at"]) < at(entry["warning_at"])
    assert [e["kpi"] for e in (await shown(server, cid, sam))["sla"]] == ["first_response"]
    # The visitor does not see the clocks.
    body = httpx.get(
        server.http + f"/api/v1/conversations/{cid}", headers=bearer(session["visitor_token"])
    ).json()
    assert "sla" not in body
    await asyncio.gather(a.close(), v.close())


@pytest.fixture
def own_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database of the module's backend, for a server of one test."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'own.sqlite3'}"
    else:
        with scratch_postgres() as url:
            yield url


async def test_warning_due_while_down_fires_once_on_start(
    own_database_url: str, tmp_path: Path
) -> None:
    async with SmtpSink() as relay:

        def mails(cid: str) -> int:
            return sum(cid in m.message.get_content() for m in relay.received)

        async def chat(name: str, ws: Any) -> tuple[str, dict[str, Any]]:
            session = new_session(server.http, name=name)
            cid = session["conversation_id"]
            v, _ = await visitor(server.ws, session["visitor_token"])
            await send(v, type="message", client_msg_id=msg_id(), text="anyone there?")
            started = await recv_until(ws, "sla", id=cid, status="in_progress")
            await v.close()
            return cid, started

        server = Server(tmp_path, own_database_url, config=RESTART_CONFIG, **mail_env(relay))
        await asyncio.to_thread(server.start)
        try:
            sam = token(server.http, "sam", PASSWORD)
            s, _ = await agent(server.ws, sam)
            # One warning fires while the server runs; another is due while it is down.
            fired, _ = await chat("Now", s)
            await recv_until(s, "sla", id=fired, status="nearing_noncompliance")
            down, started = await chat("Later", s)
            await s.close()
            await asyncio.to_thread(server.stop)
            assert mails(down) == 0, "stopping took longer than the test allows"

            left = at(started["warning_at"]) - datetime.now(at(started["warning_at"]).tzinfo)
            await asyncio.sleep(max(left.total_seconds(), 0) + 0.3)
            await asyncio.to_thread(server.start)
            await kpi_status(server, down, sam, "first_response", "nearing_noncompliance")
            # A new conversation's warning, due after start, marks the point by
            # which a repeat of the earlier ones would have shown.
            s, _ = await agent(server.ws, sam)
            marker, _ = await chat("Now", s)
            await recv_until(s, "sla", id=marker, status="nearing_noncompliance")
            async with asyncio.timeout(10):
                while len(relay.received) < 3:
                    await asyncio.sleep(0.05)
            assert (mails(fired), mails(down), mails(marker)) == (1, 1, 1)
            assert len(relay.received) == 3
            await s.close()
        finally:
            await asyncio.to_thread(server.stop)


async def test_case_clock_pauses_on_hold_resumes_later_and_succeeds_on_resolve(rig: Rig):
    server = rig.server
    alice, sam = token(server.http, "alice", PASSWORD), token(server.http, "sam", PASSWORD)
    s, _ = await agent(server.ws, sam)
    async with httpx.AsyncClient(base_url=server.http, headers=bearer(alice)) as client:
        low = await client.post("/api/v1/cases", json={"title": "Question", "priority": "low"})
        assert low.status_code == 201, low.text
        assert (await client.get(f"/api/v1/cases/{low.json()['id']}")).json()["sla"] == []

        made = await client.post("/api/v1/cases", json={"title": "Broken", "priority": "high"})
        assert made.status_code == 201, made.text
        case_id = made.json()["id"]
        started = await recv_until(s, "sla", id=case_id, status="in_progress")
        assert started["subject"] == "case" and started["kpi"] == "resolution"

        held = await client.patch(f"/api/v1/cases/{case_id}", json={"status_reason": "on_hold"})
        assert held.status_code == 200, held.text
        paused = await recv_until(s, "sla", id=case_id)
        assert paused["status"] == "paused" and paused["failure_at"] is None
        (entry,) = (await client.get(f"/api/v1/cases/{case_id}")).json()["sla"]
        assert entry["status"] == "paused" and entry["warning_at"] is None

        back = await client.patch(f"/api/v1/cases/{case_id}", json={"status_reason": "researching"})
        assert back.status_code == 200, back.text
        resumed = await recv_until(s, "sla", id=case_id)
        assert resumed["status"] == "in_progress"
        assert at(resumed["failure_at"]) > at(started["failure_at"])

        done = await client.post(f"/api/v1/cases/{case_id}/resolve", json={"resolution": "fixed"})
        assert done.status_code == 200, done.text
        succeeded = await recv_until(s, "sla", id=case_id)
        assert succeeded["status"] == "succeeded"
        (entry,) = (await client.get(f"/api/v1/cases/{case_id}")).json()["sla"]
        assert entry["status"] == "succeeded" and entry["completed_at"] is not None
    await s.close()


async def conversation_shown(server: Server, cid: str, tok: str, **want: Any) -> dict[str, Any]:
    """The conversation once each field reads ``want`` (a value, or a tuple of
    values it may have)."""

    def fits(value: Any, wanted: Any) -> bool:
        return value in wanted if isinstance(wanted, tuple) else value == wanted

    async with asyncio.timeout(10):
        while True:
            body = await shown(server, cid, tok)
            if all(fits(body[k], v) for k, v in want.items()):
                return body
            await asyncio.sleep(0.05)


async def test_a_reactivated_case_starts_its_clocks_again_and_the_owner_hears(rig: Rig):
    server = rig.server
    alice, bob = token(server.http, "alice", PASSWORD), token(server.http, "bob", PASSWORD)
    sam = token(server.http, "sam", PASSWORD)
    owner, welcome = await agent(server.ws, alice)
    holder, bob_welcome = await agent(server.ws, bob)
    session = taken_session(server.http, bob, name="Someone")
    cid = session["conversation_id"]
    async with httpx.AsyncClient(base_url=server.http + "/api/v1", headers=bearer(sam)) as client:
        made = await client.post(
            "/cases",
            json={"title": "Again", "conversation_id": cid, "owner_id": welcome["agent_id"]},
        )
        assert made.status_code == 201, made.text
        case_id = made.json()["id"]
        first = await recv_until(owner, "sla", id=case_id, kpi="resolution", status="in_progress")
        done = await client.post(f"/cases/{case_id}/resolve", json={"resolution": "rebooted"})
        assert done.status_code == 200, done.text
        await recv_until(owner, "sla", id=case_id, kpi="resolution", status="succeeded")

        back = await client.post(f"/cases/{case_id}/reactivate")
        assert back.status_code == 200, back.text
        # A new resolution clock, due from the reactivation, reaches the owner.
        again = await recv_until(owner, "sla", id=case_id, kpi="resolution", status="in_progress")
        assert at(again["failure_at"]) > at(first["failure_at"])
        warned = await recv_until(
            owner, "sla", id=case_id, kpi="resolution", status="nearing_noncompliance"
        )
        assert warned["failure_at"] == again["failure_at"]

        entries = (await client.get(f"/cases/{case_id}")).json()["sla"]
        resolution = [e["status"] for e in entries if e["kpi"] == "resolution"]
        assert resolution[0] == "succeeded" and len(resolution) == 2
        # Resolving answered the first response: it does not start again.
        assert [e["status"] for e in entries if e["kpi"] == "first_response"] == ["succeeded"]
        # The custom KPI was cancelled with the resolution; it runs again,
        # and succeeds when the case field it waits for is set.
        custom = [e["status"] for e in entries if e["kpi"] == "root_caused"]
        assert custom == ["cancelled", "in_progress"]
        patched = await client.patch(f"/cases/{case_id}", json={"fields": {"root_cause": "fan"}})
        assert patched.status_code == 200, patched.text
        await recv_until(owner, "sla", id=case_id, kpi="root_caused", status="succeeded")

        # The warning's actions: the case is raised, the conversation bob held
        # goes back in line, and a mail goes out.
        async with asyncio.timeout(10):
            while (await client.get(f"/cases/{case_id}")).json()["priority"] != "high":
                await asyncio.sleep(0.05)
        moved = await conversation_shown(server, cid, sam, status=("queued", "offered"))
        assert moved["assigned_agent_id"] != bob_welcome["agent_id"]
        async with asyncio.timeout(10):
            while not rig.mails_to("cases@example.com"):
                await asyncio.sleep(0.05)
        timeline = (await client.get(f"/cases/{case_id}/timeline")).json()["items"]
        started = [i for i in timeline if i["kind"] == "sla" and i["status"] == "started"]
        assert len([i for i in started if i["kpi"] == "resolution"]) == 2
    await asyncio.gather(owner.close(), holder.close())


async def test_a_case_cancelled_unanswered_gets_a_new_first_response_on_reactivation(rig: Rig):
    server = rig.server
    sam = token(server.http, "sam", PASSWORD)
    s, _ = await agent(server.ws, sam)
    async with httpx.AsyncClient(base_url=server.http + "/api/v1", headers=bearer(sam)) as client:
        case_id = (await client.post("/cases", json={"title": "Again"})).json()["id"]
        await recv_until(s, "sla", id=case_id, kpi="first_response", status="in_progress")
        cancelled = await client.post(f"/cases/{case_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        await recv_until(s, "sla", id=case_id, kpi="first_response", status="cancelled")
        assert (await client.post(f"/cases/{case_id}/reactivate")).status_code == 200
        await recv_until(s, "sla", id=case_id, kpi="first_response", status="in_progress")
        entries = (await client.get(f"/cases/{case_id}")).json()["sla"]
        assert [e["status"] for e in entries if e["kpi"] == "first_response"] == [
            "cancelled",
            "in_progress",
        ]
        # Done with it: no warning left running for the other tests.
        await client.post(f"/cases/{case_id}/cancel")
    await s.close()


async def test_an_unanswered_chat_is_reassigned_and_a_waiting_one_moves_queue(rig: Rig):
    server = rig.server
    alice, sam = token(server.http, "alice", PASSWORD), token(server.http, "sam", PASSWORD)
    a, welcome = await agent(server.ws, alice)
    held = taken_session(server.http, alice, name="Held")
    v, _ = await visitor(server.ws, held["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello?")
    # Alice does not answer: the warning takes the chat from her.
    await recv_until(a, "sla", id=held["conversation_id"], status="nearing_noncompliance")
    moved = await conversation_shown(
        server, held["conversation_id"], sam, queue="escalations", status=("queued", "offered")
    )
    assert moved["assigned_agent_id"] != welcome["agent_id"]
    await asyncio.gather(a.close(), v.close())

    waiting = new_session(server.http, name="Waiting")
    w, _ = await visitor(server.ws, waiting["visitor_token"])
    await send(w, type="message", client_msg_id=msg_id(), text="anyone?")
    await conversation_shown(server, waiting["conversation_id"], sam, queue="escalations")
    await w.close()
