"""SLA clocks, running: the I/O shell around ``sla/``.

It starts KPI instances (a conversation's on its first customer message, a
case's when the case runtime reports a new case), feeds them what happens
(an agent's reply, a close, a case paused, resumed, resolved, cancelled),
stores every change with a compare-and-set on the old status, and owns the
one timer task that asks the board what is due. After every stored change it
sends the ``sla`` frame to supervisors and to the owner, and on a warning or
failure carries out the KPI's configured actions.

Durability: instances live in ``sla_instances``; at start every open one is
loaded into the board, so a warning that fell due while the server was down
fires at once, and the compare-and-set makes sure it is announced by one
timer only, once. On one process a conversation's start or completion is
shown (board, frame) when its message commits and stored within
``FLUSH_S``; ``_recover`` at start makes what a crash in between lost.

The message path pays a dict lookup per message: instances start and
complete in tasks of their own, and the timer runs beside them. The cases
runtime calls ``case_changed(case_wire)`` (with ``event="reactivated"`` when a
resolved or cancelled case comes back: its KPIs start again as a new
generation) and ``for_subject("case", id)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select

import router as r
from channels.outbound import OutboundMessage
from conversations import AppendResult, Conversation, ConversationStatus
from conversations import schema as t
from conversations.ids import new_id
from conversations.times import as_utc
from gateway import tasks
from gateway.auth import Principal
from gateway.frames import dumps
from gateway.hub import SUPERVISORS, Event, user_topic
from gateway.services import Services
from sla import clock
from sla.clock import Change, KpiBoard, KpiEvent, KpiInstance, KpiStatus
from sla.policies import Policies
from sla.store import SlaStore, to_wire

log = logging.getLogger(__name__)

AGENT_ROLES = frozenset({"agent", "supervisor", "admin"})
"""Message senders whose reply is a first response (not bots, not the system)."""
MAX_SLEEP = 5.0
REMEMBERED = 100_000
"""Conversations remembered as already started (each saves one read)."""
RECOVER_S = 86_400.0
"""How far back the start looks for messages whose clock changes were lost."""
KNOWN = 20_000
"""Open conversations kept as last announced (each saves the reads for its clocks)."""

Subject = tuple[str, str]
_ASK = "\0ask"
"""An owner not known yet: ``_announce`` looks it up."""
SLA_ACTOR = Principal("user", "sla", "supervisor", "SLA")
"""Who a ``reassign`` action transfers a conversation as."""


def conversation_attributes(c: Conversation) -> dict[str, Any]:
    """What a conversation policy's ``when`` sees (as intake rules do)."""
    return {
        "channel": c.channel,
        "queue": c.queue,
        "priority": c.priority,
        "language": c.language,
        "subject": c.subject,
        "customer": {
            "id": c.customer.id,
            "name": c.customer.name,
            "email": c.customer.email,
            "phone": c.customer.phone,
            **c.customer.attributes,
        },
        "prechat": c.prechat,
        "context": c.context,
    }


def case_attributes(case: dict[str, Any]) -> dict[str, Any]:
    """What a case policy's ``when`` (and a custom KPI's ``succeed_when``) sees:
    the case's wire object, plus ``channel`` (its origin) and the customer's
    attributes folded into ``customer``."""
    attributes = dict(case)
    attributes.setdefault("channel", case.get("origin"))
    customer = case.get("customer")
    if isinstance(customer, dict):
        attributes["customer"] = {**(customer.get("attributes") or {}), **customer}
    return attributes


def _seconds(moment: datetime) -> float:
    return as_utc(moment).timestamp()


def _new_instances(
    subject: Subject, chosen: Sequence[Any], at: float, generation: int = 0
) -> list[KpiInstance]:
    """The clocks ``chosen`` (``Policies.select``) start on ``subject`` at ``at``."""
    return [
        clock.start(
            id=new_id("kpi"),
            subject_kind=subject[0],
            subject_id=subject[1],
            sla=applicable.policy.name,
            kpi=applicable.kpi.kpi,
            warn_after=applicable.kpi.warn_after.total_seconds(),
            fail_after=applicable.kpi.fail_after.total_seconds(),
            hours=applicable.hours,
            now=at,
            generation=generation,
        )
        for applicable in chosen
    ]


class _Conversations:
    """Conversation reads for the clocks, gathered: the requests made while a
    read is out (or in one turn of the loop) go out together as one query. A
    burst of first messages (a morning queue, a campaign's replies) would
    otherwise take a read thread, and the GIL from the message writer, once
    per conversation."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._waiting: dict[str, list[asyncio.Future[Conversation | None]]] = {}
        self._reading = False

    def get(self, cid: str) -> asyncio.Future[Conversation | None]:
        """The conversation, or None when there is no such conversation."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Conversation | None] = loop.create_future()
        if not self._waiting and not self._reading:
            loop.call_soon(self._read)  # after the other tasks of this turn asked
        self._waiting.setdefault(cid, []).append(future)
        return future

    def _read(self) -> None:
        batch, self._waiting = self._waiting, {}
        self._reading = True
        reading = asyncio.ensure_future(self._services.store.get_conversations(list(batch)))

        def settle(done: asyncio.Future[dict[str, Conversation]]) -> None:
            self._reading = False
            error = done.exception() if not done.cancelled() else asyncio.CancelledError()
            for cid, futures in batch.items():
                for future in futures:
                    if future.done():
                        continue
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(done.result().get(cid))
            if self._waiting:
                self._read()

        reading.add_done_callback(settle)


class SlaRuntime:
    """Start with ``await start()`` once routing and channels run; set as
    ``services.sla``.

    Args:
        email_sender: the channel runtime's SMTP sender, for ``email:`` actions
            (None: those actions are logged and skipped).
        now: the clock (seconds); tests may pass their own.
    """

    def __init__(
        self,
        services: Services,
        *,
        email_sender: Any = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        settings = services.settings
        self.services = services
        self.policies = Policies(settings.calendars, settings.sla)
        self.store = SlaStore(services.store.engines, services.store.write_beside)
        self.board = KpiBoard()
        self._conversations = _Conversations(services)
        self._email = email_sender
        self._now = now
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakValueDictionary[Subject, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._shared = settings.redis_url is not None
        """Several processes share the work: a clock may have started in another."""
        self._started: OrderedDict[str, None] = OrderedDict()
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._starting: dict[str, asyncio.Event] = {}
        """Conversations whose clocks are starting; each event is set once they have."""
        self._to_start: list[tuple[str, float]] = []
        self._known: OrderedDict[str, Conversation] = OrderedDict()
        """Open conversations as their last status announcement showed them
        (one process only: with several, another may have changed them). A
        first customer message follows its conversation's opening, so
        choosing its policies, and naming the owner a frame goes to, needs
        no read."""
        self._case_owner: dict[str, str] = {}
        self._case_of: dict[str, str] = {}
        """Conversation id -> its case: an agent's reply there answers the case."""

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self.board.put_all(await self.store.open_instances())
        await self._learn_case_conversations()
        await self._recover()
        self.services.commit_listeners.append(self._on_commit)
        self.services.status_listeners.append(self._on_status)
        self._timer = asyncio.create_task(self._run_timer(), name="sla-timer")
        log.info("sla: %d open KPI instances, %d policies", len(self.board), len(self.policies))

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.commit_listeners.remove(self._on_commit)
        with contextlib.suppress(ValueError):
            self.services.status_listeners.remove(self._on_status)
        await tasks.stop(self._timer)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self.store.drain()

    async def settled(self) -> None:
        """Wait until the work the listeners started is done (tests, benches)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _learn_case_conversations(self) -> None:
        """Which conversations answer a case still waiting for its first
        response (the message path looks them up in ``_case_of``): after a
        restart no ``case_changed`` has told us yet."""
        waiting = sorted(
            {
                i.subject_id
                for i in self.board
                if i.subject_kind == "case" and i.kpi == "first_response"
            }
        )
        c = t.conversations.c
        for n in range(0, len(waiting), 500):
            rows = await self.services.store.engines.read.all(
                select(c.id, c.case_id).where(c.case_id.in_(waiting[n : n + 500]))
            )
            for row in rows:
                self._case_of[row.id] = row.case_id

    async def _recover(self) -> None:
        """What the conversations of the last ``RECOVER_S`` say, applied again:
        a start or completion is stored up to ``FLUSH_S`` after the message
        that caused it, so a process killed in between left a conversation
        without clocks, or a first response unanswered on its clock. Clocks
        start at the first customer message, and the first response counts
        at the first agent message after it; a closed conversation's clocks
        stop at its close. Doing it twice changes nothing."""
        if not self.policies.applies_to("conversation"):
            return
        c, m = t.conversations.c, t.messages.c
        since = datetime.fromtimestamp(self._now() - RECOVER_S, UTC)
        reads = self.services.store.engines.read
        recent = await reads.all(
            select(c.id).where(c.created_at >= since, c.status != ConversationStatus.CLOSED)
        )
        timed = {i.subject_id for i in self.board if i.subject_kind == "conversation"}
        looked_at = sorted({row.id for row in recent} | timed)
        for n in range(0, len(looked_at), 500):
            ids = looked_at[n : n + 500]
            chunk = {
                row.id: row
                for row in await reads.all(
                    select(c.id, c.status, c.closed_at, c.updated_at).where(c.id.in_(ids))
                )
            }
            first = {
                row.conversation_id: _seconds(row.at)
                for row in await reads.all(
                    select(m.conversation_id, func.min(m.created_at).label("at"))
                    .where(m.conversation_id.in_(ids), m.sender_role == "customer")
                    .group_by(m.conversation_id)
                )
            }
            having = {i.subject_id for i in await self.store.of_subjects("conversation", ids)}
            for cid, at in first.items():
                if cid not in having and chunk[cid].status != ConversationStatus.CLOSED:
                    self._remember(cid)
                    self._starting[cid] = asyncio.Event()
                    self._to_start.append((cid, at))
            if self._to_start:
                await self._start_conversations()
            replies = await reads.all(
                select(m.conversation_id, m.created_at).where(
                    m.conversation_id.in_(ids), m.sender_role.in_(AGENT_ROLES)
                )
            )
            answered: dict[str, float] = {}
            for row in replies:
                at = _seconds(row.created_at)
                start = first.get(row.conversation_id)
                if start is not None and at >= start:
                    answered[row.conversation_id] = min(answered.get(row.conversation_id, at), at)
            for cid, at in answered.items():
                if self._awaits_reply("conversation", cid):
                    await self._responded(("conversation", cid), at)
            for cid, row in chunk.items():
                if row.status == ConversationStatus.CLOSED and self.board.has_subject(
                    "conversation", cid
                ):
                    await self._closed(cid, _seconds(row.closed_at or row.updated_at))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SLA task failed", exc_info=task.exception())

    def _lock(self, subject: Subject) -> asyncio.Lock:
        lock = self._locks.get(subject)
        if lock is None:
            lock = self._locks[subject] = asyncio.Lock()
        return lock

    # -- what the conversations say (must not block) --------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            if result.duplicate:
                continue
            message = result.message
            cid = message.conversation_id
            role = message.sender_role
            if role == "customer":
                if cid in self._started or cid in self._starting:
                    continue
                if self.board.has_subject("conversation", cid):
                    continue
                if not self.policies.applies_to("conversation"):
                    continue
                self._remember(cid)
                self._starting[cid] = asyncio.Event()
                if not self._to_start:
                    self._spawn(self._start_conversations())
                self._to_start.append((cid, self._now()))
            elif role in AGENT_ROLES:
                at = self._now()  # the commit moment, on the clock timers use
                if cid in self._starting or self._awaits_reply("conversation", cid):
                    self._spawn(self._responded(("conversation", cid), at))
                elif self.board.has_subject("conversation", cid):
                    pass  # answered already; the resolution clock runs on
                elif self._shared and cid not in self._answered:
                    # Another process may have started the clock (--workers).
                    self._spawn(self._responded(("conversation", cid), at, load=True))
                case_id = self._case_of.get(cid)
                if case_id is not None and self._awaits_reply("case", case_id):
                    self._spawn(self._responded(("case", case_id), at))

    def _awaits_reply(self, kind: str, subject_id: str) -> bool:
        return any(i.kpi == "first_response" for i in self.board.of_subject(kind, subject_id))

    def _remember(self, cid: str) -> None:
        self._started[cid] = None
        if len(self._started) > REMEMBERED:
            self._started.popitem(last=False)

    def _on_status(self, conversation: Conversation) -> None:
        cid = conversation.id
        if conversation.status != ConversationStatus.CLOSED:
            if not self._shared and self.policies.applies_to("conversation"):
                self._known[cid] = conversation
                self._known.move_to_end(cid)
                if len(self._known) > KNOWN:
                    self._known.popitem(last=False)
            return
        self._known.pop(cid, None)
        if cid in self._starting or self.board.has_subject("conversation", cid):
            self._spawn(self._closed(cid, self._now()))
        elif self._shared:
            self._spawn(self._closed(cid, self._now(), load=True))

    async def _start_conversations(self) -> None:
        """Start the clocks of the conversations whose first customer message
        came meanwhile: at most one read and one write for all of them, and
        the loop given back between conversations. A burst of first messages
        (a morning queue) would otherwise resume a task per conversation at
        once after each read and write, and hold up the messages' acks."""
        await asyncio.sleep(0)  # the rest of this commit's messages join
        batch, self._to_start = self._to_start, []
        try:
            found = {cid: self._known[cid] for cid, _ in batch if cid in self._known}
            unknown = [cid for cid, _ in batch if cid not in found]
            if unknown:
                found.update(await self.services.store.get_conversations(unknown))
            adding: list[tuple[KpiInstance, str | None, asyncio.Future[bool]]] = []
            for cid, at in batch:
                conversation = found.get(cid)
                if conversation is None or conversation.status == ConversationStatus.CLOSED:
                    continue
                attributes = conversation_attributes(conversation)
                chosen = self.policies.select("conversation", attributes)
                owner = conversation.assigned_agent_id
                for instance in _new_instances(("conversation", cid), chosen, at):
                    added = self.store.add(instance, self._now())
                    if self._shared:
                        adding.append((instance, owner, added))
                    else:
                        self.board.put(instance)
                        await self._announce(instance, owner)
                        added.add_done_callback(partial(self._confirm, instance, None))
                await asyncio.sleep(0)
            # A conversation that already has its clocks (started by another
            # process) keeps them: the inserts add nothing.
            clashed: set[Subject] = set()
            for instance, owner, added in adding:
                if not added.done():
                    await asyncio.wait([added])
                if added.result():
                    self.board.put(instance)
                    await self._announce(instance, owner)
                else:
                    clashed.add((instance.subject_kind, instance.subject_id))
            for subject in clashed:
                await self._load(subject)
            self._wake.set()
        finally:
            for cid, _ in batch:
                self._starting.pop(cid).set()

    def _confirm(
        self,
        shown: KpiInstance,
        again: Callable[[], Coroutine[Any, Any, None]] | None,
        written: asyncio.Future[bool],
    ) -> None:
        """A start or change already on the board and announced did not store
        (the row had moved: the timer stored a warning first; or the database
        failed): put back what is stored, then make the change ``again``."""
        if not written.cancelled():
            failure = written.exception()
            if failure is None and written.result():
                return
            if failure is not None:
                log.error("storing SLA %s %s failed", shown.kpi, shown.subject_id, exc_info=failure)
        self._spawn(self._restore(shown, again))

    async def _restore(
        self, shown: KpiInstance, again: Callable[[], Coroutine[Any, Any, None]] | None
    ) -> None:
        subject = (shown.subject_kind, shown.subject_id)
        async with self._lock(subject):
            self.board.remove(shown.id)
            stored = [
                i
                for i in await self._load(subject)
                if i.kpi == shown.kpi and i.generation == shown.generation
            ]
            if again is not None and stored:
                await again()
                return
            for instance in stored:
                await self._announce(instance)

    async def _until_started(self, cid: str) -> None:
        """Wait while a conversation's clocks are starting."""
        starting = self._starting.get(cid)
        if starting is not None:
            await starting.wait()

    async def _start_all(
        self,
        subject: Subject,
        chosen: Sequence[Any],
        at: float,
        owner: str | None = _ASK,
        generation: int = 0,
    ) -> list[KpiInstance]:
        started, clash = [], False
        for instance in _new_instances(subject, chosen, at, generation):
            if await self.store.add(instance, self._now()):
                self.board.put(instance)
                started.append(instance)
                await self._announce(instance, owner)
            else:
                clash = True
        if clash:
            await self._load(subject)
        if started:
            self._wake.set()
        return started

    async def _load(self, subject: Subject) -> list[KpiInstance]:
        """A subject's instances from the store; the open ones join the board."""
        found = await self.store.of_subject(*subject)
        self.board.put_all(found)
        return found

    async def _responded(self, subject: Subject, at: float, *, load: bool = False) -> None:
        if subject[0] == "conversation":
            await self._until_started(subject[1])
        async with self._lock(subject):
            if load and not self.board.has_subject(*subject):
                found = await self._load(subject)
                if found and not self.board.has_subject(*subject):
                    self._answered[subject[1]] = None  # nothing left to answer
                    if len(self._answered) > REMEMBERED:
                        self._answered.popitem(last=False)
            for instance in self.board.of_subject(*subject):
                if instance.kpi == "first_response":
                    await self._move(instance.id, KpiEvent.COMPLETE, at)

    async def _closed(self, cid: str, at: float, *, load: bool = False) -> None:
        await self._until_started(cid)
        async with self._lock(("conversation", cid)):
            if load and not self.board.has_subject("conversation", cid):
                await self._load(("conversation", cid))
            for instance in self.board.of_subject("conversation", cid):
                event = KpiEvent.COMPLETE if instance.kpi == "resolution" else KpiEvent.CANCEL
                await self._move(instance.id, event, at)

    # -- what the cases say ----------------------------------------------------------

    async def case_changed(self, case: dict[str, Any], *, event: str | None = None) -> None:
        """A case was created or changed (the case wire object). Starts the
        case policies' KPIs on a new active case, pauses on a ``pause_on``
        status reason, resumes off it, completes on resolve (custom KPIs
        whose ``succeed_when`` holds, at any time), cancels on cancel.
        ``event="reactivated"`` (a resolved or cancelled case is active
        again) starts the KPIs that apply again (``_restart``)."""
        case_id = str(case["id"])
        owner = case.get("owner")
        if isinstance(owner, dict):
            owner = owner.get("id")
        if isinstance(owner, str):
            self._case_owner[case_id] = owner
        else:
            self._case_owner.pop(case_id, None)
        for cid in case.get("conversations") or ():
            self._case_of[str(cid)] = case_id
        status, reason = case.get("status"), case.get("status_reason")
        attributes = case_attributes(case)
        now = self._now()
        subject: Subject = ("case", case_id)
        async with self._lock(subject):
            if event == "reactivated" and status == "active":
                if self.policies.applies_to("case"):
                    await self._restart(subject, attributes, now)
            elif not self.board.has_subject(*subject):
                existing = await self.store.of_subject(*subject)
                if not existing:
                    if status != "active" or not self.policies.applies_to("case"):
                        return
                    chosen = self.policies.select("case", attributes)
                    await self._start_all(subject, chosen, now)
                else:
                    self.board.put_all(existing)
            for instance in self.board.of_subject(*subject):
                event = self._case_event(instance, status, reason, attributes)
                if event is not None:
                    await self._move(instance.id, event, now)

    async def _restart(self, subject: Subject, attributes: dict[str, Any], at: float) -> None:
        """A reactivated case: the KPIs whose policies apply to it now start
        again, as the next generation, as Dynamics 365 restarts a reactivated
        case's applicable KPIs. Not restarted: a KPI with an instance still
        open; ``first_response`` once the case had one (a person answered,
        or the case was resolved, which answers it; a case cancelled before
        anyone answered gets a new one); a custom KPI whose ``succeed_when``
        already holds. The finished instances stay as they were."""
        existing = await self.store.of_subject(*subject)
        self.board.put_all(existing)
        still_open = {i.kpi for i in existing if i.status in clock.OPEN}
        answered = any(
            i.kpi == "first_response"
            and i.completed_at is not None
            and i.status is not KpiStatus.CANCELLED
            for i in existing
        )
        generation = max((i.generation for i in existing), default=-1) + 1
        chosen = [
            applicable
            for applicable in self.policies.select("case", attributes)
            if applicable.kpi.kpi not in still_open
            and not (applicable.kpi.kpi == "first_response" and answered)
            and not (
                applicable.kpi.custom
                and self.policies.met(applicable.policy.name, applicable.kpi.kpi, attributes)
            )
        ]
        await self._start_all(subject, chosen, at, generation=generation)

    def _case_event(
        self, instance: KpiInstance, status: Any, reason: Any, attributes: dict[str, Any]
    ) -> KpiEvent | None:
        policy = self.policies.policy(instance.sla)
        custom = instance.kpi not in ("first_response", "resolution")
        if status == "cancelled":
            return KpiEvent.CANCEL
        met = custom and self.policies.met(instance.sla, instance.kpi, attributes)
        if status == "resolved":
            return KpiEvent.COMPLETE if (met or not custom) else KpiEvent.CANCEL
        if met:
            return KpiEvent.COMPLETE
        pausing = policy is not None and reason in policy.pause_on
        if pausing and instance.status in clock.RUNNING:
            return KpiEvent.PAUSE
        if not pausing and instance.status is KpiStatus.PAUSED:
            return KpiEvent.RESUME
        return None

    async def for_subject(self, kind: str, subject_id: str) -> list[dict[str, Any]]:
        """The ``sla`` list of a conversation or case, as the protocol shows it."""
        return [to_wire(i) for i in await self.store.of_subject(kind, subject_id)]

    # -- changes ----------------------------------------------------------------------

    async def _move(self, instance_id: str, event: KpiEvent, at: float, tries: int = 3) -> None:
        """Apply ``event`` and store it; on a lost compare-and-set, reload and
        try again (the row moved under us: another node, or the timer)."""
        for _ in range(tries):
            before = self.board.get(instance_id) or await self.store.get(instance_id)
            if before is None or not clock.allowed(before.status, event):
                return
            hours = self.policies.hours(before.calendar)
            if event is KpiEvent.COMPLETE:
                after = clock.complete(before, at)
            elif event is KpiEvent.CANCEL:
                after = clock.cancel(before, at)
            elif event is KpiEvent.PAUSE:
                after = clock.pause(before, hours, at)
            elif event is KpiEvent.RESUME:
                after = clock.resume(before, hours, at)
            else:
                raise AssertionError(f"timer events come from the board, not {event}")
            written = self.store.change(before, after, self._now())
            if not self._shared:
                # One process: only its own timer moves the row, and the
                # timer sees the board. Shown now, stored within FLUSH_S.
                self.board.put(after)
                self._wake.set()
                again = (
                    partial(self._move, instance_id, event, at, tries - 1) if tries > 1 else None
                )
                written.add_done_callback(partial(self._confirm, after, again))
                if after.status is not before.status:
                    await self._announce(after)
                return
            if await written:
                self.board.put(after)
                self._wake.set()
                if after.status is not before.status:
                    await self._announce(after)
                return
            await self._reload(instance_id)

    async def _reload(self, instance_id: str) -> None:
        fresh = await self.store.get(instance_id)
        if fresh is None:
            self.board.remove(instance_id)
        else:
            self.board.put(fresh)

    async def _fired(self, change: Change) -> None:
        after = change.after
        async with self._lock((after.subject_kind, after.subject_id)):
            if not await self.store.change(change.before, after, self._now()):
                await self._reload(after.id)  # someone else stored it (or it completed)
                return
        await self._announce(after)
        kpi = self.policies.kpi(after.sla, after.kpi)
        if kpi is None:
            return
        actions = kpi.on_warning if change.event is KpiEvent.WARN else kpi.on_failure
        if any(a != "notify" for a in actions):
            # Off the timer: a slow mail relay must not hold the next warning back.
            self._spawn(self._carry_out(actions, after))

    async def _carry_out(self, actions: Sequence[str], instance: KpiInstance) -> None:
        for action in actions:
            try:
                await self._act(action, instance)
            except Exception:
                log.exception("SLA action %r on %s failed", action, instance.subject_id)

    # -- the timer ----------------------------------------------------------------------

    async def _run_timer(self) -> None:
        while True:
            self._wake.clear()
            try:
                for change in self.board.due(self._now()):
                    await self._fired(change)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SLA timer tick failed; retrying")
                await asyncio.sleep(1.0)
                # What failed to store is still open in the database: reload it.
                with contextlib.suppress(Exception):
                    self.board.put_all(await self.store.open_instances())
            due = self.board.next_due_at()
            delay = MAX_SLEEP if due is None else min(max(due - self._now(), 0.0), MAX_SLEEP)
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a
            # cancel that lands as the wake-up completes, and stop() would
            # wait for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    # -- announcements and actions ------------------------------------------------------

    async def _owner(self, instance: KpiInstance) -> str | None:
        if instance.subject_kind == "case":
            case_id = instance.subject_id
            if case_id in self._case_owner:
                return self._case_owner[case_id]
            # Not told since the start (a restart): ask the cases.
            cases = self.services.cases
            try:
                found = None if cases is None else await cases.get(case_id)
            except Exception:
                log.debug("no owner for case %s", case_id, exc_info=True)
                return None
            owner = getattr(found, "owner_id", None)
            if isinstance(owner, str):
                self._case_owner[case_id] = owner
                return owner
            return None
        conversation = self._known.get(instance.subject_id)
        if conversation is None:
            conversation = await self._conversations.get(instance.subject_id)
        return None if conversation is None else conversation.assigned_agent_id

    async def _announce(self, instance: KpiInstance, owner: str | None = _ASK) -> None:
        wire = to_wire(instance)
        frame = dumps(
            {
                "type": "sla",
                "subject": instance.subject_kind,
                "id": instance.subject_id,
                "sla": instance.sla,
                "kpi": instance.kpi,
                "status": wire["status"],
                "warning_at": wire["warning_at"],
                "failure_at": wire["failure_at"],
            }
        )
        cid = instance.subject_id if instance.subject_kind == "conversation" else None
        hub = self.services.hub
        hub.publish(Event(SUPERVISORS, "frame", frame, cid))
        if owner == _ASK:
            owner = await self._owner(instance)
        if owner is not None:
            hub.publish(Event(user_topic(owner), "frame", frame, cid))

    async def _act(self, action: str, instance: KpiInstance) -> None:
        name, _, argument = action.partition(":")
        if name == "notify":
            return  # the frame above is the notification
        if name == "email":
            await self._send_email(argument, instance)
            return
        if instance.subject_kind != "conversation":
            cases = self.services.cases
            hook = getattr(cases, "sla_action", None)
            if hook is not None:
                await hook(instance.subject_id, action)
            return
        if name == "raise_priority":
            await self._reroute(instance, by=int(argument or 1))
        elif name == "queue":
            await self._reroute(instance, queue=argument)
        elif name == "reassign":
            await self.reassign(instance.subject_id, argument or None, instance)

    async def reassign(
        self, cid: str, queue: str | None, instance: KpiInstance | None = None
    ) -> None:
        """Take a conversation from the person who holds it and put it back in
        line (in ``queue``, else its own), as a transfer by the SLA: its
        agent is not offered it again soon. A waiting one moves to ``queue``
        (if given); a closed one, or one a bot holds, stays."""
        services = self.services
        conversation = await services.store.get_conversation(cid)
        if conversation.status in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            if queue is not None and queue != conversation.queue:
                await self._move_waiting(conversation, queue, instance)
            return
        holder = conversation.assigned_agent_id
        if conversation.status != ConversationStatus.ASSIGNED or holder is None:
            return
        user = await services.store.user_by_id(holder)
        if user is None or user.role not in AGENT_ROLES:
            return  # a bot's: its hand-off decides
        note = (
            "SLA" if instance is None else f"SLA {instance.sla}: {instance.kpi} {instance.status}"
        )
        await services.transfer(cid, SLA_ACTOR, queue or conversation.queue, note)

    async def _move_waiting(
        self, conversation: Conversation, queue: str, instance: KpiInstance | None
    ) -> None:
        services = self.services
        reason = "SLA" if instance is None else f"SLA {instance.sla}: {instance.kpi}"
        changed = await services.store.set_routing(
            conversation.id, queue=queue, actor="sla", reason=reason
        )
        if services.routing is not None:
            services.routing.submit(r.PriorityChanged(conversation.id, changed.priority, queue))
        services.announce_status(changed)

    async def _reroute(
        self, instance: KpiInstance, *, by: int = 0, queue: str | None = None
    ) -> None:
        """Raise the priority of, or move, a conversation still waiting for an
        agent (one already with an agent stays there: the frame suffices)."""
        services = self.services
        cid = instance.subject_id
        conversation = await services.store.get_conversation(cid)
        if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            return
        priority = conversation.priority + by
        changed = await services.store.set_routing(
            cid,
            priority=priority,
            queue=queue,
            actor="sla",
            reason=f"SLA {instance.sla}: {instance.kpi} {instance.status.value}",
        )
        if services.routing is not None:
            services.routing.submit(r.PriorityChanged(cid, priority, queue))
        services.announce_status(changed)

    async def _send_email(self, address: str, instance: KpiInstance) -> None:
        if self._email is None:
            log.warning("SLA email to %s skipped: no SMTP relay is configured", address)
            return
        wire = to_wire(instance)
        text = (
            f"SLA {instance.sla!r}, KPI {instance.kpi}: {wire['status']}\n"
            f"{instance.subject_kind} {instance.subject_id}\n"
            f"started {wire['started_at']}, warning at {wire['warning_at']},"
            f" failure at {wire['failure_at']}\n"
        )
        subject = (
            f"[SLA] {instance.kpi} {wire['status']}"
            f" on {instance.subject_kind} {instance.subject_id}"
        )
        await self._email.send(
            OutboundMessage("email", address, text, new_id("slamail"), subject=subject)
        )


__all__ = ["SlaRuntime", "case_attributes", "conversation_attributes"]
