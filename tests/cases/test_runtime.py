"""The case runtime in process, on a real store (SQLite and PostgreSQL): what it
tells the SLA runtime, follow-up cases, and case numbers under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cases.config import CasesConfig, RecordRule
from conversations import AppendRequest
from gateway.cases_runtime import CaseRuntime
from gateway.services import Services
from gateway.settings import Settings
from tests.support.services import scratch_postgres


class FakeSla:
    """Stands in for ``services.sla``: the interface the case runtime calls."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.events: list[str | None] = []

    async def case_changed(self, case: dict[str, Any], *, event: str | None = None) -> None:
        self.changes.append(case)
        self.events.append(event)

    async def for_subject(self, subject: str, subject_id: str) -> list[dict[str, Any]]:
        assert subject == "case"
        return [
            {
                "sla": "case resolution",
                "kpi": "resolution",
                "status": "succeeded",
                "started_at": "2000-01-01T00:00:00.000Z",
                "warning_at": None,
                "failure_at": None,
                "completed_at": "2000-01-01T01:00:00+00:00",  # another RFC 3339 form
            }
        ]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('runtime') / 'db.sqlite3'}"
    else:
        with scratch_postgres() as url:
            yield url


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    running = await Services.start(
        Settings(database_url=database_url, secret_key="k" * 40, sqlite_synchronous="NORMAL")
    )
    try:
        yield running
    finally:
        await running.stop()


async def start(services: Services, **config: Any) -> CaseRuntime:
    rules = [RecordRule(channel="sms")]
    runtime = CaseRuntime(services, CasesConfig(**config), rules)
    await runtime.start()
    return runtime


async def customer_says(
    services: Services, conversation_id: str, text: str, **attributes: Any
) -> None:
    await services.submit_message(
        AppendRequest(
            conversation_id=conversation_id,
            sender_role="customer",
            sender_id=None,
            sender_name="Sue",
            text=text,
            channel="sms",
            attributes=attributes,
        )
    )


async def settled(runtime: CaseRuntime) -> None:
    await asyncio.wait_for(runtime.idle.wait(), 10)


async def test_the_sla_runtime_hears_of_new_cases_and_every_change(services: Services):
    sla = FakeSla()
    services.sla = sla
    runtime = await start(services)
    try:
        case, _ = await runtime.create(title="Slow", actor="u_1")
        assert [c["status"] for c in sla.changes] == ["active"]
        assert "sla" not in sla.changes[0] and sla.changes[0]["id"] == case.id
        await runtime.update(case.id, actor="u_1", status_reason="on_hold")
        await runtime.update(case.id, actor="u_1", priority=runtime_priority("urgent"))
        await runtime.add_activity(
            case.id, "note", text="n", minutes=0, billable=False, actor="u_1"
        )  # not a change to the case: not told
        # Any field is told: a custom KPI may wait for it.
        await runtime.update(case.id, actor="u_1", fields={"root_cause": "fan"})
        await runtime.update(case.id, actor="u_1", fields={"root_cause": "fan"})  # no change
        await runtime.resolve(case.id, "ok", actor="u_1", reason=None)
        await runtime.reactivate(case.id, actor="u_1")
        assert [(c["status"], c["status_reason"], c["priority"]) for c in sla.changes] == [
            ("active", "in_progress", "normal"),
            ("active", "on_hold", "normal"),
            ("active", "on_hold", "urgent"),
            ("active", "on_hold", "urgent"),
            ("resolved", "problem_solved", "urgent"),
            ("active", "in_progress", "urgent"),
        ]
        assert sla.changes[3]["fields"] == {"root_cause": "fan"}
        assert sla.events == [None] * 5 + ["reactivated"]
        wire = await runtime.wire(await runtime.get(case.id))
        assert wire["sla"] == await sla.for_subject("case", case.id)
        page = await runtime.timeline(case.id)
        sla_items = [i for i in page["items"] if i["kind"] == "sla"]
        assert [(i["status"], i["at"]) for i in sla_items] == [
            ("started", "2000-01-01T00:00:00.000Z"),
            ("succeeded", "2000-01-01T01:00:00.000Z"),
        ]
        assert page["items"][0]["kind"] == "sla"  # oldest first
    finally:
        await runtime.stop()


def runtime_priority(name: str) -> Any:
    from cases.model import Priority

    return Priority(name)


async def test_a_message_after_resolution_opens_a_linked_follow_up_case(services: Services):
    runtime = await start(services, follow_up="new_case")
    try:
        conversation = await services.open_conversation(
            channel="sms", identities=[("phone", "+15550001111")], phone="+15550001111"
        )
        await customer_says(services, conversation.id, "Screen flickers\nsince the update")
        await settled(runtime)
        first_id = await runtime.store.case_of_conversation(conversation.id)
        assert first_id is not None
        first = await runtime.get(first_id)
        assert first.title == "Screen flickers" and first.origin == "sms"
        await customer_says(services, conversation.id, "and sound too")
        await settled(runtime)
        assert await runtime.store.case_of_conversation(conversation.id) == first_id

        await runtime.resolve(first_id, "driver rolled back", actor="u_1", reason=None)
        await customer_says(services, conversation.id, "it is back")
        await settled(runtime)
        follow_id = await runtime.store.case_of_conversation(conversation.id)
        assert follow_id is not None and follow_id != first_id
        follow = await runtime.get(follow_id)
        assert (follow.follow_up_of, follow.status.value) == (first_id, "active")
        assert (await runtime.get(first_id)).status.value == "resolved"
    finally:
        await runtime.stop()


async def test_reopen_mode_reactivates_the_case_instead(services: Services):
    runtime = await start(services, follow_up="reopen")
    try:
        conversation = await services.open_conversation(
            channel="sms", identities=[("phone", "+15550002222")], phone="+15550002222"
        )
        await customer_says(services, conversation.id, "No signal")
        await settled(runtime)
        case_id = await runtime.store.case_of_conversation(conversation.id)
        assert case_id is not None
        await runtime.resolve(case_id, "reset", actor="u_1", reason=None)
        # An auto-reply does not reopen it.
        await customer_says(services, conversation.id, "I am away", automated={"bulk": True})
        await settled(runtime)
        assert (await runtime.get(case_id)).status.value == "resolved"
        await customer_says(services, conversation.id, "gone again")
        await settled(runtime)
        assert await runtime.store.case_of_conversation(conversation.id) == case_id
        assert (await runtime.get(case_id)).status.value == "active"
    finally:
        await runtime.stop()


async def test_case_numbers_are_unique_under_concurrent_creation(services: Services):
    runtime = await start(services)
    try:
        made = await asyncio.gather(*(runtime.create(title=f"c{i}", actor=None) for i in range(20)))
        numbers = [case.number for case, _ in made]
        assert len(set(numbers)) == 20
        values = sorted(int(n.removeprefix("CAS-")) for n in numbers)
        assert values == list(range(values[0], values[0] + 20))
    finally:
        await runtime.stop()


async def test_sla_actions_raise_the_case_and_move_its_waiting_conversations(services: Services):
    sla = FakeSla()
    services.sla = sla
    runtime = await start(services)
    try:
        conversation = await services.open_conversation(
            channel="sms", identities=[("phone", "+15550003333")], phone="+15550003333"
        )
        case, _ = await runtime.create(title="Late", actor=None, conversation_id=conversation.id)
        await runtime.sla_action(case.id, "raise_priority:2")
        assert (await runtime.get(case.id)).priority.value == "urgent"
        assert sla.changes[-1]["priority"] == "urgent"
        await runtime.sla_action(case.id, "raise_priority")  # already at the top: no change
        assert len(sla.changes) == 2
        await runtime.sla_action(case.id, "queue:escalations")
        moved = await services.store.get_conversation(conversation.id)
        assert moved.queue == "escalations"
        await runtime.sla_action(case.id, "notify")  # nothing for cases to do
    finally:
        await runtime.stop()


async def test_conversations_stored_while_no_rules_ran_get_their_case_at_start(
    services: Services,
):
    conversation = await services.open_conversation(
        channel="sms", identities=[("phone", "+15550004444")], phone="+15550004444"
    )
    await customer_says(services, conversation.id, "Stored before the rules ran")
    runtime = await start(services)
    try:
        await settled(runtime)
        case_id = await runtime.store.case_of_conversation(conversation.id)
        assert case_id is not None
        assert (await runtime.get(case_id)).title == "Stored before the rules ran"
    finally:
        await runtime.stop()
    again = await start(services)  # a second start judges nothing twice
    try:
        await settled(again)
        assert await again.store.case_of_conversation(conversation.id) == case_id
        found = await again.store.find(customer_id=conversation.customer.id)
        assert [c.id for c in found] == [case_id]
    finally:
        await again.stop()


async def test_refuse_mode_creates_no_case_on_a_spent_entitlement(services: Services):
    from datetime import date, timedelta

    from cases.errors import EntitlementRefused

    runtime = await start(services, entitlement_exhausted="refuse")
    try:
        customer = await services.store.find_or_create_customer([("email", "spent@example.com")])
        today = date.today()
        await runtime.create_entitlement(
            customer_id=customer.id,
            name="One",
            kind="cases",
            total=1,
            starts_on=today,
            ends_on=today + timedelta(days=1),
            channel=None,
            product=None,
        )
        case, choice = await runtime.create(title="first", actor=None, customer_id=customer.id)
        assert choice.warning is None and case.entitlement_id is not None
        await runtime.resolve(case.id, "done", actor=None, reason=None)
        before = await runtime.store.find(customer_id=customer.id)
        with pytest.raises(EntitlementRefused, match="exhausted"):
            await runtime.create(title="second", actor=None, customer_id=customer.id)
        assert await runtime.store.find(customer_id=customer.id) == before
        # Giving back (reactivating) makes room again.
        await runtime.reactivate(case.id, actor=None)
        second, _ = await runtime.create(title="second", actor=None, customer_id=customer.id)
        assert second.entitlement_id == case.entitlement_id
    finally:
        await runtime.stop()
