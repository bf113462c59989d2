"""Cases, running: the operations HTTP and the record rules share, and their hooks.

``CaseRuntime`` is the I/O shell around ``cases/``: it reads and writes
through ``cases.store.CaseStore``, lets the pure core decide every move,
and tells the SLA runtime (``services.sla``, when there is one) about every
new case and every change (status, priority, owner, fields, a conversation
linked)::

    await services.sla.case_changed(case_wire)        # wire object, without "sla"
    await services.sla.case_changed(case_wire, event="reactivated")
    await services.sla.for_subject("case", case_id)   # -> the case's "sla" list

Record creation rules run off the message path: a commit listener puts the
customers' messages on channels that have a rule on a queue, and one worker
task takes them in order (a case per new conversation, a thread's replies
to its case, reopen or follow-up after resolution).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import router as r
from cases.alerts import DeviceAlert, case_rule, case_title
from cases.config import CasesConfig, RecordRule
from cases.entitlements import (
    Choice,
    Entitlement,
    EntitlementKind,
    check_explicit,
    choose,
)
from cases.errors import CaseError
from cases.lifecycle import CaseStatus
from cases.model import Case, Priority
from cases.model import cancel as cancel_case
from cases.model import merge as merge_case
from cases.model import reactivate as reactivate_case
from cases.model import resolve as resolve_case
from cases.model import set_reason as set_case_reason
from cases.records import FollowUp, on_customer_message, rule_for, title_from
from cases.store import Activity, CaseNotFound, CaseStore
from conversations import (
    AppendResult,
    Conversation,
    ConversationNotFound,
    ConversationStatus,
    Message,
)
from conversations.ids import new_id
from conversations.models import rfc3339
from conversations.times import as_utc, utcnow
from gateway import tasks
from gateway.services import Services

log = logging.getLogger(__name__)

RULES_ACTOR = "record_rules"
MERGE_CHAIN_MAX = 20
CATCH_UP = timedelta(days=1)
"""How far back the start-up catch-up of record rules looks."""


class CaseRuntime:
    """Start with ``await start()`` after ``Services.start``; sets ``services.cases``."""

    def __init__(
        self, services: Services, config: CasesConfig, record_rules: Sequence[RecordRule]
    ) -> None:
        self.services = services
        self.config = config
        self.rules = list(record_rules)
        self.flow = config.flow()
        self.store = CaseStore(services.store.engines)
        self._rule_channels = frozenset(r.channel for r in self.rules)
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self) -> None:
        self.services.cases = self
        if self.rules:
            self.services.commit_listeners.append(self._on_commit)
            # Catch up first: conversations stored while no worker ran (a
            # crash between a commit and its rule) still get their case. The
            # rules are a pure function of the first message, so judging one
            # again changes nothing.
            since = utcnow() - CATCH_UP
            channels = sorted(self._rule_channels)
            for message in await self.store.uncased_first_messages(channels, since):
                self.idle.clear()
                self._inbox.put_nowait(message)
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="record-rules")

    async def stop(self) -> None:
        await tasks.stop(self._worker)

    # -- the wire -------------------------------------------------------------

    async def wire(self, case: Case, *, with_sla: bool = True) -> dict[str, Any]:
        """The case object of the protocol (docs/service.md lists every field)."""
        customer = await self.store.customer(case.customer_id) if case.customer_id else None
        entitlement = (
            await self.store.entitlement(case.entitlement_id) if case.entitlement_id else None
        )
        wire: dict[str, Any] = {
            "id": case.id,
            "number": case.number,
            "title": case.title,
            "description": case.description,
            "status": case.status.value,
            "status_reason": case.status_reason,
            "priority": case.priority.value,
            "customer": customer.to_wire() if customer else None,
            "product": case.product,
            "origin": case.origin,
            "owner": case.owner_id,
            "stage": case.stage,
            "parent_id": case.parent_id,
            "follow_up_of": case.follow_up_of,
            "merged_into": case.merged_into,
            "resolution": case.resolution,
            "conversations": await self.store.conversation_ids(case.id),
            "entitlement": self._entitlement_ref(entitlement, utcnow().date()),
            "billable_minutes": case.billable_minutes,
            "fields": case.fields,
            "created_at": rfc3339(case.created_at),
            "updated_at": rfc3339(case.updated_at),
            "resolved_at": rfc3339(case.resolved_at) if case.resolved_at else None,
        }
        if with_sla:
            wire["sla"] = await self._sla_of(case.id)
        return wire

    @staticmethod
    def _entitlement_ref(entitlement: Entitlement | None, on: date) -> dict[str, Any] | None:
        if entitlement is None:
            return None
        return {
            "id": entitlement.id,
            "remaining": entitlement.remaining,
            "name": entitlement.name,
            "kind": entitlement.kind.value,
            "state": entitlement.state(on).value,
        }

    @staticmethod
    def entitlement_wire(entitlement: Entitlement, on: date) -> dict[str, Any]:
        return {
            "id": entitlement.id,
            "customer_id": entitlement.customer_id,
            "name": entitlement.name,
            "kind": entitlement.kind.value,
            "total": int(entitlement.total)
            if entitlement.kind is EntitlementKind.CASES
            else entitlement.total,
            "remaining": entitlement.remaining,
            "starts_on": entitlement.starts_on.isoformat(),
            "ends_on": entitlement.ends_on.isoformat(),
            "channel": entitlement.channel,
            "product": entitlement.product,
            "state": entitlement.state(on).value,
            "created_at": rfc3339(entitlement.created_at),
        }

    # -- the SLA runtime's hooks ------------------------------------------------

    async def _sla_of(self, case_id: str) -> list[dict[str, Any]]:
        sla = self.services.sla
        if sla is None:
            return []
        try:
            found: list[dict[str, Any]] = await sla.for_subject("case", case_id)
            return found
        except Exception:
            log.exception("SLA lookup for case %s failed", case_id)
            return []

    async def _changed(self, case: Case, event: str | None = None) -> None:
        """Tell the SLA runtime (a new case, or any change to one; ``event``
        names a reactivation)."""
        sla = self.services.sla
        if sla is None:
            return
        try:
            wire = await self.wire(case, with_sla=False)
            customer = await self.store.customer(case.customer_id) if case.customer_id else None
            if customer is not None and wire["customer"] is not None:
                # Policies may look at the customer's attributes (a tier).
                wire["customer"]["attributes"] = customer.attributes
            if event is None:
                await sla.case_changed(wire)
            else:
                await sla.case_changed(wire, event=event)
        except Exception:
            log.exception("SLA update for case %s failed", case.id)

    async def sla_action(self, case_id: str, action: str) -> None:
        """An SLA warning's or failure's action on a case (called by the SLA
        runtime): ``raise_priority[:N]`` raises the case N levels (up to
        urgent); ``queue:NAME`` moves its conversations still waiting for an
        agent to that queue; ``reassign[:QUEUE]`` puts those a person holds
        back in line (the SLA runtime's ``reassign``). Other actions need
        nothing from cases."""
        name, _, argument = action.partition(":")
        if name == "raise_priority":
            case = await self.store.get(case_id)
            levels = list(Priority)
            raised = levels[min(levels.index(case.priority) + int(argument or 1), len(levels) - 1)]
            if raised is not case.priority:
                await self.update(case_id, actor="sla", priority=raised)
        elif name == "queue" and argument:
            for conversation_id in await self.store.conversation_ids(case_id):
                await self._requeue(conversation_id, argument)
        elif name == "reassign":
            reassign = getattr(self.services.sla, "reassign", None)
            if reassign is None:
                return
            for conversation_id in await self.store.conversation_ids(case_id):
                await reassign(conversation_id, argument or None)

    async def _requeue(self, conversation_id: str, queue: str) -> None:
        services = self.services
        conversation = await services.store.get_conversation(conversation_id)
        if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            return  # with an agent already: the SLA frame tells them
        if services.routing is not None and queue not in services.routing.router.config.queues:
            log.warning("SLA action on a case names unknown queue %r", queue)
            return
        changed = await services.store.set_routing(
            conversation_id, queue=queue, actor="sla", reason="case SLA action"
        )
        if services.routing is not None:
            services.routing.submit(r.PriorityChanged(conversation_id, changed.priority, queue))
        services.announce_status(changed)

    # -- reading --------------------------------------------------------------------

    async def get(self, case_id: str) -> Case:
        return await self.store.get(case_id)

    async def surviving(self, case_id: str) -> Case:
        """The case, or the case it was merged into (following the chain)."""
        case = await self.store.get(case_id)
        for _ in range(MERGE_CHAIN_MAX):
            if case.merged_into is None:
                break
            case = await self.store.get(case.merged_into)
        return case

    # -- creating -------------------------------------------------------------------

    async def create(
        self,
        *,
        title: str | None,
        actor: str | None,
        customer_id: str | None = None,
        conversation_id: str | None = None,
        priority: Priority = Priority.NORMAL,
        description: str | None = None,
        product: str | None = None,
        origin: str | None = None,
        owner_id: str | None = None,
        parent_id: str | None = None,
        follow_up_of: str | None = None,
        entitlement_id: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> tuple[Case, Choice]:
        """Open a case, from a conversation or from scratch.

        Raises:
            CaseError: unknown customer, conversation, parent or entitlement;
                the conversation has a case; the entitlement refuses.
        """
        now = utcnow()
        conversation: Conversation | None = None
        if conversation_id is not None:
            try:
                conversation = await self.services.store.get_conversation(conversation_id)
            except ConversationNotFound:
                raise CaseError(f"no conversation {conversation_id!r}") from None
            if customer_id is not None and customer_id != conversation.customer.id:
                raise CaseError("customer_id is not the conversation's customer")
            customer_id = conversation.customer.id
            origin = origin or conversation.channel
            if not title:
                first = await self.services.store.messages_after(conversation.id, 0, limit=1)
                title = title_from(conversation.subject, first[0].text if first else None)
        if not title:
            raise CaseError("title: a case needs a title (or a conversation to take it from)")
        if customer_id is not None and await self.store.customer(customer_id) is None:
            raise CaseError(f"no customer {customer_id!r}")
        if parent_id is not None:
            try:
                await self.store.get(parent_id)
            except CaseNotFound:
                raise CaseError(f"parent_id: no case {parent_id!r}") from None
        choice = await self._entitlement_for(customer_id, entitlement_id, origin, product, now)
        draft = Case(
            id=new_id("cs"),
            number="",
            title=title,
            customer_id=customer_id,
            created_at=now,
            updated_at=now,
            description=description,
            product=product,
            priority=priority,
            origin=origin,
            owner_id=owner_id,
            stage=self.flow.first,
            parent_id=parent_id,
            follow_up_of=follow_up_of,
            entitlement_id=choice.entitlement.id if choice.entitlement else None,
            fields=fields or {},
        )
        data: dict[str, Any] = {}
        if choice.warning:
            data["entitlement_warning"] = choice.warning
        if follow_up_of:
            data["follow_up_of"] = follow_up_of
        case = await self.store.create(
            draft, conversation_id=conversation_id, actor=actor, data=data
        )
        await self._changed(case)
        return case, choice

    async def _entitlement_for(
        self,
        customer_id: str | None,
        entitlement_id: str | None,
        channel: str | None,
        product: str | None,
        now: datetime,
    ) -> Choice:
        behaviour = self.config.entitlement_exhausted
        if entitlement_id is not None:
            entitlement = await self.store.entitlement(entitlement_id)
            if entitlement is None or entitlement.customer_id != customer_id:
                raise CaseError(f"no entitlement {entitlement_id!r} for this customer")
            return check_explicit(entitlement, now.date(), behaviour)
        if customer_id is None:
            return Choice(None)
        found = await self.store.entitlements_of(customer_id)
        return choose(found, channel=channel, product=product, on=now.date(), behaviour=behaviour)

    async def create_entitlement(
        self,
        *,
        customer_id: str,
        name: str,
        kind: str,
        total: float,
        starts_on: date,
        ends_on: date,
        channel: str | None,
        product: str | None,
    ) -> Entitlement:
        if await self.store.customer(customer_id) is None:
            raise CaseError(f"no customer {customer_id!r}")
        try:
            entitlement = Entitlement(
                id=new_id("ent"),
                customer_id=customer_id,
                name=name,
                kind=EntitlementKind(kind),
                total=total,
                used=0,
                starts_on=starts_on,
                ends_on=ends_on,
                created_at=utcnow(),
                channel=channel,
                product=product,
            )
        except ValueError as exc:
            raise CaseError(str(exc)) from None
        return await self.store.create_entitlement(entitlement)

    # -- changing ----------------------------------------------------------------------

    async def update(
        self,
        case_id: str,
        *,
        actor: str | None,
        status_reason: str | None = None,
        priority: Priority | None = None,
        stage: str | None = None,
        fields: dict[str, Any] | None = None,
        set_values: dict[str, Any] | None = None,
    ) -> Case:
        """Edit a case: plain fields, priority, stage (through the flow) and
        the status reason of an active case."""
        now = utcnow()
        values = dict(set_values or {})

        def decide(case: Case) -> Case:
            changed = replace(case, **values) if values else case
            if fields:
                changed = replace(changed, fields={**case.fields, **fields})
            if priority is not None:
                changed = replace(changed, priority=priority)
            if stage is not None and stage != case.stage:
                changed = replace(changed, stage=self.flow.move(changed, stage))
            if status_reason is not None and status_reason != case.status_reason:
                changed = set_case_reason(changed, status_reason, now)
            return replace(changed, updated_at=now) if changed != case else case

        change = await self.store.change(case_id, decide, actor=actor, event="updated", now=now)
        if change.after != change.before:
            # Any field may matter: a custom KPI's succeed_when, the owner
            # who hears of the clocks.
            await self._changed(change.after)
        return change.after

    async def resolve(
        self, case_id: str, resolution: str | None, *, actor: str | None, reason: str | None
    ) -> Case:
        now = utcnow()

        def decide(case: Case) -> Case:
            if reason is None:
                return resolve_case(case, resolution, now)
            return resolve_case(case, resolution, now, reason)

        change = await self.store.change(
            case_id, decide, actor=actor, event="resolved", data={"resolution": resolution}, now=now
        )
        alert_id = change.after.fields.get("alert_id")
        if isinstance(alert_id, str):
            # The device's problem is solved: its next report is a new alert.
            await self.store.close_alert(alert_id)
        await self._changed(change.after)
        return change.after

    async def cancel(self, case_id: str, *, actor: str | None, note: str | None = None) -> Case:
        now = utcnow()
        change = await self.store.change(
            case_id,
            lambda case: cancel_case(case, now),
            actor=actor,
            event="cancelled",
            data={"note": note} if note else None,
            now=now,
        )
        await self._changed(change.after)
        return change.after

    async def reactivate(self, case_id: str, *, actor: str | None) -> Case:
        now = utcnow()
        change = await self.store.change(
            case_id,
            lambda case: reactivate_case(case, now),
            actor=actor,
            event="reactivated",
            now=now,
        )
        await self._changed(change.after, event="reactivated")
        return change.after

    async def merge(self, case_id: str, into: str, *, actor: str | None) -> tuple[Case, Case]:
        now = utcnow()
        if case_id == into:
            raise CaseError("a case cannot be merged into itself")
        merged, survivor = await self.store.merge(
            case_id, into, lambda case, other: merge_case(case, other, now), actor=actor, now=now
        )
        await self._changed(merged)
        await self._changed(survivor)  # it has the merged case's conversations now
        return merged, survivor

    async def link(self, case_id: str, conversation_id: str, *, actor: str | None) -> Case:
        try:
            await self.services.store.get_conversation(conversation_id)
        except ConversationNotFound:
            raise CaseError(f"no conversation {conversation_id!r}") from None
        await self.store.link(case_id, conversation_id, actor=actor, now=utcnow())
        case = await self.store.get(case_id)
        await self._changed(case)  # a reply there now answers the case
        return case

    async def add_activity(
        self, case_id: str, kind: str, *, text: str, minutes: int, billable: bool, actor: str | None
    ) -> tuple[Activity, Case]:
        return await self.store.add_activity(
            case_id, kind, text=text, minutes=minutes, billable=billable, actor=actor, now=utcnow()
        )

    # -- timeline --------------------------------------------------------------------------

    async def timeline(
        self, case_id: str, *, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        """Messages of the linked conversations, activities, status changes and
        SLA events, oldest first; ``cursor`` continues after a page."""
        await self.store.get(case_id)
        keyed: list[tuple[tuple[str, str], dict[str, Any]]] = []
        for message in await self.store.messages(case_id):
            item = message.to_wire()
            item.pop("type", None)
            keyed.append(
                (
                    (rfc3339(message.created_at), "m" + message.id),
                    {"kind": "message", "at": rfc3339(message.created_at), **item},
                )
            )
        for activity in await self.store.activities(case_id):
            keyed.append(
                ((rfc3339(activity.created_at), "a" + activity.id), _activity_item(activity))
            )
        for n, instance in enumerate(await self._sla_of(case_id)):
            for at, status in _sla_moments(instance):
                keyed.append(
                    (
                        (at, f"s{n:04d}{status}"),
                        {
                            "kind": "sla",
                            "at": at,
                            "sla": instance.get("sla"),
                            "kpi": instance.get("kpi"),
                            "status": status,
                        },
                    )
                )
        keyed.sort(key=lambda pair: pair[0])
        after = _decode_cursor(cursor) if cursor else None
        if after is not None:
            keyed = [pair for pair in keyed if pair[0] > after]
        page = keyed[:limit]
        more = len(keyed) > limit
        return {
            "items": [item for _, item in page],
            "next_cursor": _encode_cursor(page[-1][0]) if more and page else None,
        }

    # -- record creation rules --------------------------------------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            message = result.message
            if (
                not result.duplicate
                and message.sender_role == "customer"
                and message.channel in self._rule_channels
            ):
                self.idle.clear()
                self._inbox.put_nowait(message)

    async def _work(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self.on_customer_message(message)
            except Exception:
                log.exception("record rules on message %s failed", message.id)
            finally:
                if self._inbox.empty():
                    self.idle.set()

    async def on_customer_message(self, message: Message) -> None:
        """A customer wrote on a channel with record rules (see the module doc).

        Machine mail (auto-replies, bounces, bulk) neither opens nor reopens a
        case: an out-of-office answer to our resolution mail would.
        """
        if message.attributes.get("automated"):
            return
        conversation = await self.services.store.get_conversation(message.conversation_id)
        case_id = conversation.case_id
        if case_id is None and message.channel == "email":
            threading = message.attributes.get("threading") or {}
            ids = [i for i in (threading.get("in_reply_to"), *threading.get("references", ())) if i]
            case_id = await self.store.case_of_email(ids)
            if case_id is not None:
                case = await self.surviving(case_id)
                await self.store.link(case.id, conversation.id, actor=RULES_ACTOR, now=utcnow())
                await self._changed(await self.store.get(case.id))
                await self._follow_up(case, conversation)
                return
        if case_id is not None:
            await self._follow_up(await self.surviving(case_id), conversation)
            return
        if not await self.store.first_customer_message(message):
            return
        context = {
            "channel": message.channel,
            "subject": conversation.subject,
            "text": message.text,
            "message": message.text,
            "from": message.attributes.get("from"),
            "to": message.attributes.get("to"),
            "customer": conversation.customer.to_wire(),
        }
        rule = rule_for(self.rules, message.channel, context)
        if rule is None:
            return
        try:
            await self.create(
                title=title_from(conversation.subject, message.text),
                actor=RULES_ACTOR,
                conversation_id=conversation.id,
                priority=rule.priority,
            )
        except CaseError as exc:
            log.warning(
                "record rule for %s: no case for %s: %s", rule.channel, conversation.id, exc
            )

    async def _follow_up(self, case: Case, conversation: Conversation) -> None:
        decision = on_customer_message(
            case.status,
            case.resolved_at,
            utcnow(),
            mode=self.config.follow_up,
            window=self.config.follow_up_window,
        )
        if decision is FollowUp.REOPEN:
            await self.reactivate(case.id, actor=RULES_ACTOR)
        elif decision is FollowUp.NEW_CASE:
            follow, _ = await self.create(
                title=case.title,
                actor=RULES_ACTOR,
                customer_id=case.customer_id,
                priority=case.priority,
                product=case.product,
                origin=conversation.channel,
                follow_up_of=case.id,
            )
            await self.store.relink(follow.id, conversation.id, actor=RULES_ACTOR, now=utcnow())
            await self._changed(await self.store.get(follow.id))

    # -- device alerts ---------------------------------------------------------------------

    async def alert_reported(self, alert: DeviceAlert) -> DeviceAlert:
        """Open a case for an alert when an alert rule says so (once per alert)."""
        rule = case_rule(self.config.alert_rules, alert)
        if rule is None:
            return alert
        customer_id = alert.customer_id
        if customer_id is not None and await self.store.customer(customer_id) is None:
            customer_id = None
        try:
            case, _ = await self.create(
                title=case_title(alert),
                actor="device_alerts",
                customer_id=customer_id,
                priority=rule.priority,
                description=alert.description,
                origin="device",
                fields={"device_id": alert.device_id, "alert_id": alert.id},
            )
        except CaseError as exc:
            log.warning("alert %s: no case: %s", alert.id, exc)
            return alert
        await self.store.set_alert_case(alert.id, case.id)
        return replace(alert, case_id=case.id)


def _activity_item(activity: Activity) -> dict[str, Any]:
    at = rfc3339(activity.created_at)
    if activity.kind == "status":
        return {"kind": "status_change", "at": at, "actor": activity.actor, **activity.data}
    return {
        "kind": activity.kind,
        "at": at,
        "id": activity.id,
        "text": activity.text,
        "minutes": activity.minutes,
        "billable": activity.billable,
        "actor": activity.actor,
    }


def _moment(value: Any) -> str | None:
    """An RFC 3339 time in the one form the timeline sorts on (None if unreadable)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return rfc3339(as_utc(parsed).astimezone(UTC))


def _sla_moments(instance: dict[str, Any]) -> list[tuple[str, str]]:
    """The moments of one KPI instance worth a timeline line."""
    moments: list[tuple[str, str]] = []
    started = _moment(instance.get("started_at"))
    if started:
        moments.append((started, "started"))
    status = instance.get("status")
    now = rfc3339(utcnow())
    for key, reached in (("warning_at", "nearing_noncompliance"), ("failure_at", "noncompliant")):
        due = _moment(instance.get(key))
        if due and due <= now and status in (reached, "noncompliant"):
            moments.append((due, reached))
    completed = _moment(instance.get("completed_at"))
    if completed:
        moments.append((completed, str(status)))
    return moments


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        at, _, tie = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
    except (ValueError, UnicodeDecodeError):
        raise CaseError("cursor: not a cursor this server gave out") from None
    if not at or not tie:
        raise CaseError("cursor: not a cursor this server gave out")
    return at, tie


__all__ = ["CaseNotFound", "CaseRuntime", "CaseStatus"]
