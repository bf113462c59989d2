"""The SLA runtime in process on a real store (SQLite and PostgreSQL), with a
clock of the test's own: the case interface (start, pause, resume, custom
KPIs, resolve, cancel) and the conversation hooks (who counts as a reply)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from conversations import AppendRequest
from gateway.services import Services
from gateway.settings import Settings
from gateway.sla_runtime import SlaRuntime
from sla.config import CalendarConfig, SlaPolicy
from tests.support.services import scratch_postgres

POLICIES = [
    SlaPolicy.model_validate(
        {
            "name": "gold case",
            "applies_to": "case",
            "when": "customer.tier == 'gold'",
            "pause_on": ["on_hold", "waiting_for_details"],
            "kpis": [
                {"kpi": "resolution", "warn_after": "1h", "fail_after": "2h"},
                {
                    "kpi": "researched",
                    "warn_after": "10m",
                    "fail_after": "20m",
                    "succeed_when": "status_reason == 'researching'",
                },
            ],
        }
    ),
    SlaPolicy.model_validate(
        {
            "name": "case answer",
            "applies_to": "case",
            "when": "title == 'Answer me'",
            "kpis": [
                {"kpi": "first_response", "warn_after": "1m", "fail_after": "2m"},
                {"kpi": "resolution", "warn_after": "1h", "fail_after": "2h"},
            ],
        }
    ),
    SlaPolicy.model_validate(
        {
            "name": "premium case",
            "applies_to": "case",
            "when": "entitlement.name == 'Premium' and priority in ['high', 'urgent']",
            "kpis": [{"kpi": "resolution", "warn_after": "10m", "fail_after": "20m"}],
        }
    ),
    SlaPolicy.model_validate(
        {
            "name": "chat",
            "kpis": [
                {"kpi": "first_response", "warn_after": "1m", "fail_after": "2m"},
                {"kpi": "resolution", "warn_after": "1h", "fail_after": "2h"},
            ],
        }
    ),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sla') / 'db.sqlite3'}"
    else:
        with scratch_postgres() as url:
            yield url


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[tuple[SlaRuntime, Clock]]:
    settings = Settings(
        database_url=database_url,
        secret_key="k" * 40,
        sqlite_synchronous="NORMAL",
        calendars=[CalendarConfig(name="office", timezone="UTC", monday=["09:00-17:00"])],
        sla=POLICIES,
    )
    services = await Services.start(settings)
    clock = Clock()
    sla = SlaRuntime(services, now=clock)
    await sla.start()
    services.sla = sla
    try:
        yield sla, clock
    finally:
        await sla.stop()
        await services.stop()


def case(case_id: str, status: str = "active", reason: str = "in_progress", **more: Any):
    return {
        "id": case_id,
        "status": status,
        "status_reason": reason,
        "priority": "normal",
        "customer": {"id": "cus_1", "attributes": {"tier": "gold"}},
        "origin": "email",
        "owner": None,
        "conversations": [],
        **more,
    }


def by_kpi(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["kpi"]: e for e in entries}


async def test_case_pause_resume_custom_kpi_and_resolve(runtime):
    sla, clock = runtime
    cid = f"cas_{clock.now}"
    await sla.case_changed(case(cid))
    started = by_kpi(await sla.for_subject("case", cid))
    assert set(started) == {"resolution", "researched"}
    assert started["resolution"]["status"] == "in_progress"
    assert started["resolution"]["sla"] == "gold case"
    failure_before = started["resolution"]["failure_at"]

    clock.now += 600
    await sla.case_changed(case(cid, reason="on_hold"))
    paused = by_kpi(await sla.for_subject("case", cid))
    assert paused["resolution"]["status"] == "paused"
    assert paused["resolution"]["warning_at"] is None and paused["resolution"]["failure_at"] is None

    clock.now += 3_000  # paused 50 minutes: the due times move out by as much
    await sla.case_changed(case(cid, reason="researching"))
    resumed = by_kpi(await sla.for_subject("case", cid))
    assert resumed["resolution"]["status"] == "in_progress"
    assert resumed["researched"]["status"] == "succeeded"
    from datetime import datetime

    moved = datetime.fromisoformat(resumed["resolution"]["failure_at"]) - datetime.fromisoformat(
        failure_before
    )
    assert moved == timedelta(minutes=50)

    await sla.case_changed(case(cid, status="resolved", reason="problem_solved"))
    done = by_kpi(await sla.for_subject("case", cid))
    assert done["resolution"]["status"] == "succeeded"
    assert done["resolution"]["completed_at"] is not None
    assert not sla.board.has_subject("case", cid)


async def test_cancelled_case_cancels_and_a_non_matching_case_gets_none(runtime):
    sla, clock = runtime
    cid = f"cas_c{clock.now}"
    await sla.case_changed(case(cid))
    await sla.case_changed(case(cid, status="cancelled", reason="cancelled"))
    assert {e["status"] for e in await sla.for_subject("case", cid)} == {"cancelled"}
    silver = case(f"cas_s{clock.now}", customer={"id": "cus_2", "attributes": {"tier": "silver"}})
    await sla.case_changed(silver)
    assert await sla.for_subject("case", silver["id"]) == []


async def test_case_started_paused_stays_paused_until_resumed(runtime):
    sla, clock = runtime
    cid = f"cas_p{clock.now}"
    await sla.case_changed(case(cid, reason="waiting_for_details"))
    assert by_kpi(await sla.for_subject("case", cid))["resolution"]["status"] == "paused"
    await sla.case_changed(case(cid, reason="waiting_for_details"))  # repeated: no change
    assert by_kpi(await sla.for_subject("case", cid))["resolution"]["status"] == "paused"


async def say(services: Services, cid: str, role: str, text: str = "hi") -> None:
    await services.submit_message(
        AppendRequest(
            conversation_id=cid,
            sender_role=role,
            sender_id=None,
            sender_name=role,
            text=text,
            channel="webchat",
        )
    )


async def test_only_a_person_answers_first_response_and_close_resolves(runtime):
    sla, _ = runtime
    services = sla.services
    conversation = await services.open_conversation(channel="webchat", name="Sue")
    cid = conversation.id
    await say(services, cid, "agent", "hello, how can I help?")  # before the customer: no clock
    await sla.settled()
    assert await sla.for_subject("conversation", cid) == []
    await say(services, cid, "customer")
    await sla.settled()
    assert {e["status"] for e in await sla.for_subject("conversation", cid)} == {"in_progress"}
    await say(services, cid, "bot")
    await say(services, cid, "system")
    await say(services, cid, "customer", "again")
    await sla.settled()
    entries = by_kpi(await sla.for_subject("conversation", cid))
    assert entries["first_response"]["status"] == "in_progress"
    assert len(entries) == 2
    await say(services, cid, "agent", "here")
    await sla.settled()
    assert by_kpi(await sla.for_subject("conversation", cid))["first_response"]["status"] == (
        "succeeded"
    )


async def test_close_without_an_answer_cancels_first_response(runtime):
    sla, _ = runtime
    services = sla.services
    conversation = await services.open_conversation(channel="webchat", name="Sue")
    await say(services, conversation.id, "customer")
    await sla.settled()
    from conversations import ConversationStatus

    closed = await services.store.change_status(
        conversation.id, ConversationStatus.CLOSED, actor="test"
    )
    services.announce_status(closed)
    await sla.settled()
    entries = by_kpi(await sla.for_subject("conversation", conversation.id))
    assert entries["first_response"]["status"] == "cancelled"
    assert entries["resolution"]["status"] == "succeeded"


async def test_a_reply_as_the_warning_falls_due_still_answers(runtime):
    """The timer took a warning off the board but has not stored it when an
    agent replies: the reply's compare-and-set loses to the stored row, and
    the reply is made again on what is stored, not dropped."""
    sla, clock = runtime
    services = sla.services
    cid = (await services.open_conversation(channel="webchat", name="Race")).id
    await say(services, cid, "customer")
    await sla.settled()
    await sla.store.written()
    clock.now += 90  # the first response's warning (1 minute) is due
    due = [c for c in sla.board.due(clock.now) if c.after.subject_id == cid]
    assert [c.after.kpi for c in due] == ["first_response"]
    await say(services, cid, "agent", "here")
    await sla.settled()
    for change in due:  # the timer stores its warning late: it finds the row moved
        await sla._fired(change)
    await sla.settled()
    entries = by_kpi(await sla.for_subject("conversation", cid))
    assert entries["first_response"]["status"] == "succeeded"


async def test_a_start_lost_with_the_process_is_made_at_the_next_start(runtime):
    """A process killed after a message's commit and before its clock
    changes were stored: the next start applies the messages again."""
    import time

    from conversations import ConversationStatus

    sla, clock = runtime
    services = sla.services
    clock.now = time.time()  # the recovery looks at the last day of messages
    services.commit_listeners.remove(sla._on_commit)  # nothing reaches the clocks
    services.status_listeners.remove(sla._on_status)
    try:
        lost = (await services.open_conversation(channel="webchat", name="Lost")).id
        await say(services, lost, "customer")
        customer_at = time.time()
        await say(services, lost, "agent", "here")
        answered_at = time.time()
        closing = (await services.open_conversation(channel="webchat", name="Closing")).id
        services.commit_listeners.append(sla._on_commit)
        await say(services, closing, "customer")
        await sla.settled()
        await sla.store.written()
        services.commit_listeners.remove(sla._on_commit)
        await say(services, closing, "agent", "done")
        await services.store.change_status(closing, ConversationStatus.CLOSED, actor="test")
    finally:
        if sla._on_commit not in services.commit_listeners:
            services.commit_listeners.append(sla._on_commit)
        services.status_listeners.append(sla._on_status)
    assert by_kpi(await sla.for_subject("conversation", closing))["resolution"]["status"] == (
        "in_progress"
    )
    assert await sla.for_subject("conversation", lost) == []

    restarted = SlaRuntime(services, now=clock)
    await restarted.start()
    try:
        await restarted.settled()
        entries = by_kpi(await restarted.for_subject("conversation", lost))
        assert set(entries) == {"first_response", "resolution"}
        assert entries["first_response"]["status"] == "succeeded"
        assert entries["resolution"]["status"] == "in_progress"
        started = datetime.fromisoformat(entries["resolution"]["started_at"]).timestamp()
        assert started <= customer_at  # the customer's message, not the restart
        answered = datetime.fromisoformat(entries["first_response"]["completed_at"]).timestamp()
        assert started <= answered <= answered_at
        closed = by_kpi(await restarted.for_subject("conversation", closing))
        assert closed["first_response"]["status"] == "succeeded"
        assert closed["resolution"]["status"] == "succeeded"

        again = SlaRuntime(services, now=clock)  # once more: nothing changes
        await again.start()
        await again.settled()
        assert by_kpi(await again.for_subject("conversation", lost)) == entries
        await again.stop()
    finally:
        await restarted.stop()


async def test_with_several_processes_a_reply_elsewhere_completes_the_clock(runtime):
    sla, _ = runtime
    services = sla.services
    conversation = await services.open_conversation(channel="webchat", name="Sue")
    cid = conversation.id
    await say(services, cid, "customer")
    await sla.settled()
    # Another worker: its board never saw this conversation start.
    other = SlaRuntime(services, now=sla._now)
    other._shared = True
    services.commit_listeners.remove(sla._on_commit)  # the reply is written elsewhere
    reply = await services.submit_message(
        AppendRequest(
            conversation_id=cid,
            sender_role="agent",
            sender_id=None,
            sender_name="alice",
            text="here",
            channel="webchat",
        )
    )
    services.commit_listeners.append(sla._on_commit)
    assert by_kpi(await sla.for_subject("conversation", cid))["first_response"]["status"] == (
        "in_progress"
    )
    other._on_commit([reply])
    await other.settled()
    entries = by_kpi(await sla.for_subject("conversation", cid))
    assert entries["first_response"]["status"] == "succeeded"
    await sla.settled()


class Frames:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def deliver(self, event: Any) -> None:
        import json

        self.seen.append(json.loads(event.frame))


async def test_two_timers_announce_a_due_warning_and_failure_once(runtime):
    from gateway.hub import SUPERVISORS

    sla, clock = runtime
    frames = Frames()
    await sla.services.hub.subscribe(SUPERVISORS, frames)
    cid = f"cas_t{clock.now}"
    await sla.case_changed(case(cid))
    other = SlaRuntime(sla.services, now=clock)  # a second node (or the same one restarted)
    other.board.put_all(await other.store.open_instances())
    clock.now += 3 * 3600  # the warning and the failure are both due
    mine, theirs = sla.board.due(clock.now), other.board.due(clock.now)
    for changes in (mine, theirs):  # both timers saw the warning and the failure due
        assert sorted(
            c.event.value
            for c in changes
            if c.after.subject_id == cid and c.after.kpi == "resolution"
        ) == [
            "fail",
            "warn",
        ]
    for change in mine:
        await sla._fired(change)
    for change in theirs:
        await other._fired(change)
    await sla.settled()
    await other.settled()
    announced = [f["status"] for f in frames.seen if f["id"] == cid and f["kpi"] == "resolution"]
    assert announced.count("nearing_noncompliance") == 1
    assert announced.count("noncompliant") == 1
    entries = by_kpi(await sla.for_subject("case", cid))
    assert entries["resolution"]["status"] == "noncompliant"


def generations(instances: list[Any], kpi: str) -> list[tuple[int, str]]:
    return [(i.generation, i.status.value) for i in instances if i.kpi == kpi]


async def test_each_reactivation_starts_the_case_clocks_again_as_a_new_generation(runtime):
    sla, clock = runtime
    cid = f"cas_r{clock.now}"
    await sla.case_changed(case(cid))
    for _ in range(2):
        clock.now += 60
        await sla.case_changed(case(cid, status="resolved", reason="problem_solved"))
        clock.now += 60
        await sla.case_changed(case(cid), event="reactivated")
        # Told twice (another node, a retry): what runs is not started again.
        await sla.case_changed(case(cid), event="reactivated")
    instances = await sla.store.of_subject("case", cid)
    assert generations(instances, "resolution") == [
        (0, "succeeded"),
        (1, "succeeded"),
        (2, "in_progress"),
    ]
    # The custom KPI's condition does not hold: it starts again each time too.
    assert [g for g, _ in generations(instances, "researched")] == [0, 1, 2]
    latest = next(i for i in instances if i.kpi == "resolution" and i.generation == 2)
    assert latest.started_at == clock.now
    assert latest.warning_at == clock.now + 3600
    assert sla.board.get(latest.id) is not None  # the timer knows it


async def test_a_reactivated_case_keeps_a_first_response_it_had_and_restarts_a_cancelled_one(
    runtime,
):
    sla, clock = runtime
    answered, unanswered = f"cas_a{clock.now}", f"cas_u{clock.now}"
    for cid in (answered, unanswered):
        await sla.case_changed(case(cid, title="Answer me"))
    clock.now += 60
    await sla.case_changed(case(answered, status="resolved", reason="problem_solved"))
    await sla.case_changed(case(unanswered, status="cancelled", reason="cancelled"))
    clock.now += 60
    for cid in (answered, unanswered):
        await sla.case_changed(case(cid, title="Answer me"), event="reactivated")
    mine = await sla.store.of_subject("case", answered)
    assert generations(mine, "first_response") == [(0, "succeeded")]
    assert generations(mine, "resolution") == [(0, "succeeded"), (1, "in_progress")]
    theirs = await sla.store.of_subject("case", unanswered)
    assert generations(theirs, "first_response") == [(0, "cancelled"), (1, "in_progress")]
    assert generations(theirs, "resolution") == [(0, "cancelled"), (1, "in_progress")]
    # A custom KPI whose condition already holds is not started again.
    done = f"cas_d{clock.now}"
    await sla.case_changed(case(done))
    await sla.case_changed(case(done, status="resolved", reason="problem_solved"))
    await sla.case_changed(case(done, reason="researching"), event="reactivated")
    assert generations(await sla.store.of_subject("case", done), "researched") == [(0, "cancelled")]


async def test_after_a_restart_a_reply_answers_the_case_and_its_owner_hears(runtime):
    from cases.config import CasesConfig
    from gateway.cases_runtime import CaseRuntime
    from gateway.hub import user_topic

    sla, clock = runtime
    services = sla.services
    cases = CaseRuntime(services, CasesConfig(), [])
    await cases.start()
    second: SlaRuntime | None = None
    try:
        conversation = await services.open_conversation(channel="webchat", name="Sue")
        made, _ = await cases.create(
            title="Answer me", actor=None, conversation_id=conversation.id, owner_id="u_owner"
        )
        assert by_kpi(await sla.for_subject("case", made.id))["first_response"]["status"] == (
            "in_progress"
        )
        # The server restarts: nothing has told the new runtime about the case.
        await sla.stop()
        second = SlaRuntime(services, now=clock)
        services.sla = second
        await second.start()
        frames = Frames()
        await services.hub.subscribe(user_topic("u_owner"), frames)
        await say(services, conversation.id, "agent", "on it")
        await second.settled()
        entry = by_kpi(await second.for_subject("case", made.id))["first_response"]
        assert entry["status"] == "succeeded"
        heard = [f for f in frames.seen if f["id"] == made.id and f["kpi"] == "first_response"]
        assert [f["status"] for f in heard] == ["succeeded"]
    finally:
        await cases.stop()
        if second is not None:
            await second.stop()
            services.sla = sla


async def test_a_case_policy_chooses_by_entitlement_and_priority(runtime):
    sla, clock = runtime
    premium = {"id": "ent_1", "name": "Premium", "remaining": 3, "kind": "cases"}
    chosen = f"cas_e{clock.now}"
    await sla.case_changed(
        case(chosen, priority="urgent", entitlement=premium, customer=None, title="x")
    )
    assert [(e["sla"], e["kpi"]) for e in await sla.for_subject("case", chosen)] == [
        ("premium case", "resolution")
    ]
    for other in (
        case(f"cas_n{clock.now}", priority="normal", entitlement=premium, customer=None),
        case(f"cas_b{clock.now}", priority="urgent", entitlement={"name": "Basic"}, customer=None),
    ):
        await sla.case_changed(other)
        assert await sla.for_subject("case", other["id"]) == []
