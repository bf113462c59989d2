"""The I/O shell around the routing core.

Every input that matters to routing becomes an event on one ordered log (an
in-process queue on this node), and a single consumer feeds them to the pure
``router.Router`` with the current time, then carries out the commands it
returns, in order: offers go to the agent's websocket, assignments to the
store and to both sides of the conversation. A timer sends ``Tick`` at the
router's next deadline (offer expiry, overflow, reconnect grace).

The store stays the source of truth for a conversation's status: on start
the router is rebuilt from the open conversations and the agents, so a
restart loses only the offers that were open (they are made again).

A conversation enters routing with its first customer message, so intake
rules can read it and sessions nobody wrote in never ring an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import intents
import router as r
from conversations import AppendResult, Conversation, ConversationStatus
from conversations.errors import AlreadyAssigned, ConversationNotFound, IllegalTransition
from conversations.models import User, rfc3339
from gateway.frames import dumps
from gateway.guidance_api import offer_summary
from gateway.hub import SUPERVISORS, Event
from gateway.services import Services
from guidance.store import GuidanceStore

log = logging.getLogger(__name__)

ROUTED_ROLES = ("agent", "bot")
OPEN = (ConversationStatus.QUEUED.value, ConversationStatus.OFFERED.value)


def _takes_routed_work(user: User) -> bool:
    return user.role in ROUTED_ROLES and not user.disabled


def _capacity(user: User) -> str | r.CapacityProfile | None:
    """A user's ``capacity``: ``{"profile": name}`` or an explicit profile."""
    if not user.capacity:
        return None
    if set(user.capacity) == {"profile"}:
        return str(user.capacity["profile"])
    return r.CapacityProfile.model_validate(user.capacity)


class RoutingShell:
    def __init__(self, services: Services, config: r.RoutingConfig, timezone: str) -> None:
        self._services = services
        self.router = r.Router(config)
        self._zone = ZoneInfo(timezone)
        self._log: asyncio.Queue[tuple[tuple[r.Event, ...], asyncio.Future[list[r.Command]] | None]]
        self._log = asyncio.Queue()
        self._routed: set[str] = set()
        self._outside: set[str] = set()
        """Held by someone outside routing (a supervisor): the router let them go."""
        self._pending_arrivals: set[str] = set()
        self._consumer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._snapshots: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self.skill_finder = intents.load_skill_finder(services.settings.skill_finder, config.queues)
        """The intent model applied at intake (``[skill_finder]``), or None."""
        self._intents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """What the skill finder found, per conversation, for the offer (recent ones)."""
        self._invited_to = {p.name: p.queue for p in services.settings.proactive if p.queue}
        """Queues of proactive rules: a chat opened from an invitation goes there."""

    def _routed_user(self, user: User) -> bool:
        """Takes routed work: agents and bots, except the configured bots
        (``[[bots]]``), which get their work only from the bot runtime."""
        bots = self._services.bots
        return _takes_routed_work(user) and not (bots is not None and bots.claims(user))

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        await self._rebuild()
        self._services.commit_listeners.append(self._on_commit)
        self._consumer = asyncio.create_task(self._consume(), name="router")
        self._timer = asyncio.create_task(self._tick(), name="router-timer")
        self._snapshots = asyncio.create_task(self._publish_snapshots(), name="router-snapshots")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._services.commit_listeners.remove(self._on_commit)
        for task in (self._timer, self._snapshots, self._consumer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _rebuild(self) -> None:
        """Replay the store into the router. Its commands are dropped: the
        store already says where everything is, and no agent is connected
        yet, so offers are made as agents arrive."""
        store, now = self._services.store, time.time()
        routed_users: set[str] = set()
        for user in await store.list_users():
            if self._routed_user(user):
                routed_users.add(user.id)
                self.router.handle(self._upsert(user), now)
        open_ones = await store.list_conversations(
            statuses=[*OPEN, ConversationStatus.ASSIGNED.value], limit=100_000
        )
        for conversation in reversed(open_ones):  # oldest first, for FIFO
            if conversation.status == ConversationStatus.OFFERED.value:
                # The offer died with the previous process; it will be made again.
                conversation = await store.change_status(
                    conversation.id,
                    ConversationStatus.QUEUED,
                    actor="router",
                    data={"reason": "restart"},
                )
            if conversation.last_seq == 0 and conversation.status != "assigned":
                continue  # arrives with its first message
            self._routed.add(conversation.id)
            agent_id = conversation.assigned_agent_id
            if agent_id is not None and agent_id not in routed_users:
                self._outside.add(conversation.id)
                continue
            events: list[r.Event] = [self._arrival(conversation)]
            if agent_id is not None:
                events.append(r.ManualAssign(conversation.id, agent_id, force=True))
            elif self._services.bots is not None:
                # Handed off by a bot and still waiting: its queue, skills, priority.
                skills = self._services.bots.handoff_skills(conversation.id)
                if skills is not None:
                    events = self._handoff_events(conversation, skills)
            self.router.handle_all(events, now)

    # -- the event log -------------------------------------------------------

    def submit(self, *events: r.Event) -> None:
        """Queue events for the router, applied as one step (see ``handle_all``)."""
        self._log.put_nowait((events, None))

    async def call(self, event: r.Event) -> list[r.Command]:
        """Submit an event and wait until its commands are carried out."""
        done: asyncio.Future[list[r.Command]] = asyncio.get_running_loop().create_future()
        self._log.put_nowait(((event,), done))
        return await done

    async def _consume(self) -> None:
        while True:
            events, done = await self._log.get()
            try:
                commands = self.router.handle_all(events, time.time())
                for command in commands:
                    await self._carry_out(command)
            except Exception as exc:
                log.exception("routing %r failed", events)
                if done is not None and not done.done():
                    done.set_exception(exc)
                continue
            finally:
                self._wake.set()
                self._changed.set()
            if done is not None and not done.done():
                done.set_result(commands)

    async def _tick(self) -> None:
        while True:
            deadline = self.router.next_deadline()
            delay = 3600.0 if deadline is None else max(0.0, deadline - time.time())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
                continue
            self.submit(r.Tick())
            await asyncio.sleep(0)  # let the consumer take it

    # -- inputs ---------------------------------------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            message = result.message
            cid = message.conversation_id
            if message.sender_role != "customer" or cid in self._routed:
                continue
            if cid in self._pending_arrivals:
                continue
            self._pending_arrivals.add(cid)
            task = asyncio.create_task(self._arrive(cid, message.text))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _arrive(self, cid: str, first_message: str) -> None:
        try:
            conversation = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return
        finally:
            self._pending_arrivals.discard(cid)
        if cid in self._routed:
            return
        # Known from now on, routed or not: later messages cost nothing here.
        self._routed.add(cid)
        if conversation.status in OPEN:
            item = self._at_intake(self._item(conversation, first_message, time.time()))
            bots = self._services.bots
            if bots is not None and await bots.take(conversation, item):
                self._outside.add(cid)  # a bot has it until it hands off
                return
            self.submit(r.ItemArrived(item))

    def taken(self, conversation: Conversation, by: User) -> None:
        """Someone took a conversation by hand: the router revokes any open
        offer for it. An agent's load counts it (the router learns of an agent
        who never connected first, or the item would stay in line and be
        offered to others); anyone else, a supervisor, takes it out of routing."""
        entered = conversation.id in self._routed
        self._routed.add(conversation.id)
        if not self._routed_user(by):
            self._outside.add(conversation.id)
            if entered:
                self.submit(r.ItemCancelled(conversation.id, "taken by staff"))
            return
        arrives = () if entered else (self._arrival(conversation),)
        self.submit(self._upsert(by), *arrives, r.ManualAssign(conversation.id, by.id, force=True))

    def transferred(self, conversation: Conversation, event: r.Transferred) -> None:
        """A held conversation goes to a queue. One held outside routing enters
        afresh: the router let it go."""
        if conversation.id in self._outside:
            self.reenter(conversation)
        else:
            self.submit(event)

    def reenter(self, conversation: Conversation) -> None:
        """Put a conversation in line afresh, whatever this node's router held
        of it (its holder was disabled, perhaps on another node)."""
        self._outside.discard(conversation.id)
        self._routed.add(conversation.id)
        self.submit(r.ItemCancelled(conversation.id, "re-entered"))
        self.submit(self._arrival(conversation))

    def handed_off(
        self, conversation: Conversation, skills: tuple[r.SkillRequirement, ...] | None
    ) -> None:
        """A bot handed the conversation to people: it enters routing in the
        queue and with the priority the hand-off set (intake adds its skills
        but cannot move it), in one step so nobody is offered it in between."""
        self._outside.discard(conversation.id)
        self._routed.add(conversation.id)
        self.submit(
            r.ItemCancelled(conversation.id, "re-entered"),
            *self._handoff_events(conversation, skills or ()),
        )

    def _handoff_events(
        self, conversation: Conversation, skills: tuple[r.SkillRequirement, ...]
    ) -> list[r.Event]:
        item = replace(
            self._arrival(conversation).item,
            queue=conversation.queue,
            priority=conversation.priority,
            skills=skills,
        )
        return [
            r.ItemArrived(item),
            r.PriorityChanged(conversation.id, conversation.priority, conversation.queue),
        ]

    def user_changed(self, user: User, held: Sequence[Conversation]) -> None:
        """An account was created or edited: skills, capacity and queues apply
        to routing at once, not at the agent's next connect. An agent made
        supervisor leaves routing but keeps what they hold; someone made agent
        takes on the load of what they hold."""
        if self._routed_user(user):
            events: list[r.Event] = [self._upsert(user)]
            for conversation in held:
                if conversation.id in self._outside:
                    self._outside.discard(conversation.id)
                    events.append(self._arrival(conversation))
                    events.append(r.ManualAssign(conversation.id, user.id, force=True))
            self.submit(*events)
            return
        for conversation in held:
            if conversation.id in self._routed and conversation.id not in self._outside:
                self.submit(r.ItemCancelled(conversation.id, "its holder left routing"))
            self._routed.add(conversation.id)
            self._outside.add(conversation.id)
        if self.router.presence_of(user.id) is not None:
            self.submit(r.AgentRemoved(user.id))

    def _arrival(self, conversation: Conversation) -> r.ItemArrived:
        """An item for a conversation that is already under way."""
        arrived = conversation.created_at.timestamp()
        return r.ItemArrived(self._item(conversation, None, arrived))

    def _at_intake(self, item: r.WorkItem) -> r.WorkItem:
        """A new item, before intake rules: the queue of the proactive rule
        that invited the visitor, then what the skill finder reads in the
        first message (intake rules see ``intent``, ``intent_confidence``)."""
        context = item.attributes.get("context") or {}
        rule = context.get("proactive") if item.queue is None else None
        invited = self._invited_to.get(rule) if isinstance(rule, str) else None
        if invited is not None:
            item = replace(item, queue=invited)
        message = item.attributes.get("message")
        if self.skill_finder is None or not isinstance(message, str):
            return item
        found = self.skill_finder.find(message)
        self._intents[item.id] = found.to_wire()
        while len(self._intents) > 10_000:
            self._intents.popitem(last=False)
        # Kept in the conversation's context (scripts read ``intent`` there)
        # with a ``context_set`` entry on the timeline.
        task = asyncio.create_task(
            GuidanceStore(self._services.store.engines).set_context(
                item.id, "intent", found.to_wire(), actor="skill_finder"
            )
        )
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return intents.apply_finding(item, found)

    def _item(self, c: Conversation, first_message: str | None, arrived: float) -> r.WorkItem:
        customer = {
            "id": c.customer.id,
            "name": c.customer.name,
            "email": c.customer.email,
            "phone": c.customer.phone,
            **c.customer.attributes,
        }
        local = datetime.fromtimestamp(arrived, UTC).astimezone(self._zone)
        return r.WorkItem(
            id=c.id,
            channel=c.channel,  # type: ignore[arg-type]
            arrived_at=arrived,
            queue=None if c.queue == "default" else c.queue,
            priority=c.priority,
            language=c.language,
            attributes={
                "customer": customer,
                "prechat": c.prechat,
                "context": c.context,
                "subject": c.subject,
                "message": first_message,
                "time": r.time_attributes(local),
                **intents.attributes_from_context(c.context),
            },
        )

    def _upsert(self, user: User) -> r.AgentUpserted:
        return r.AgentUpserted(
            user.id,
            user.display_name or user.username,
            skills=user.skills,
            capacity=_capacity(user),
            queues=frozenset(user.queues) if user.queues is not None else None,
        )

    async def agent_connected(self, user: User) -> None:
        self.submit(self._upsert(user))
        await self.call(r.AgentConnected(user.id))

    def agent_disconnected(self, user_id: str) -> None:
        self.submit(r.AgentDisconnected(user_id))

    def presence(self, user_id: str) -> str:
        return self.router.presence_of(user_id) or "offline"

    # -- carrying out commands ---------------------------------------------------

    async def _carry_out(self, command: r.Command) -> None:
        services, store = self._services, self._services.store
        if isinstance(command, r.OfferMade):
            try:
                conversation = await store.get_conversation(command.item_id)
                if conversation.status != ConversationStatus.OFFERED.value:
                    # (Already offered: a decline moved it straight to the next agent.)
                    conversation = await store.change_status(
                        command.item_id,
                        ConversationStatus.OFFERED,
                        actor="router",
                        data={"offer_id": command.offer_id, "agent_id": command.agent_id},
                    )
                    services.announce_status(conversation)
            except (IllegalTransition, ConversationNotFound):
                log.warning("offer %s for a conversation that moved on", command.offer_id)
                return
            services.tell_user(command.agent_id, await self._offer_frame(command, conversation))
        elif isinstance(command, r.OfferRevoked):
            services.tell_user(
                command.agent_id,
                {
                    "type": "offer_revoked",
                    "offer_id": command.offer_id,
                    "conversation_id": command.item_id,
                    "reason": command.reason,
                },
            )
            await self._back_in_line(command.item_id)
        elif isinstance(command, r.ItemAssigned):
            if command.offer_id is None:
                return  # a manual assignment: the HTTP call did the rest
            try:
                await services.assign(
                    command.item_id, command.agent_id, actor="router", via_router=True
                )
            except Exception:
                if await self._holds(command.agent_id, command.item_id):
                    return  # they took their own offer by hand: stored already
                log.exception("assigning %s after accept failed", command.item_id)
                self.submit(r.ItemRequeued(command.item_id, "store refused the assignment"))
        elif isinstance(command, r.ItemQueued | r.ItemOverflowed):
            queue = command.queue if isinstance(command, r.ItemQueued) else command.to_queue
            priority = command.priority if isinstance(command, r.ItemQueued) else None
            with contextlib.suppress(ConversationNotFound):
                changed = await store.set_routing(
                    command.item_id,
                    queue=queue,
                    priority=priority,
                    actor="router",
                    reason=getattr(command, "reason", None) or getattr(command, "step", None),
                )
                services.announce_status(changed)
        elif isinstance(command, r.PresenceUpdated):
            services.tell_user(command.agent_id, {"type": "presence", "status": command.status})
        elif isinstance(command, r.Rejected):
            agent_id = getattr(command.event, "agent_id", None)
            if agent_id is not None:
                ref = getattr(command.event, "offer_id", None)
                services.tell_user(
                    agent_id,
                    {"type": "error", "code": command.code, "message": command.message, "ref": ref},
                )

    async def _holds(self, agent_id: str, cid: str) -> bool:
        try:
            conversation = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return False
        return (
            conversation.status == ConversationStatus.ASSIGNED.value
            and conversation.assigned_agent_id == agent_id
        )

    async def _back_in_line(self, cid: str) -> None:
        store = self._services.store
        try:
            conversation = await store.get_conversation(cid)
        except ConversationNotFound:
            return
        if conversation.status == ConversationStatus.OFFERED.value:
            with contextlib.suppress(IllegalTransition, AlreadyAssigned):
                conversation = await store.change_status(
                    cid, ConversationStatus.QUEUED, actor="router"
                )
                self._services.announce_status(conversation)

    async def _offer_frame(self, command: r.OfferMade, c: Conversation) -> dict[str, Any]:
        recent = await self._services.store.list_conversations(customer_id=c.customer.id, limit=6)
        return {
            "type": "offer",
            "offer_id": command.offer_id,
            "conversation_id": c.id,
            "channel": c.channel,
            "queue": command.queue,
            "expires_at": rfc3339(datetime.fromtimestamp(command.expires_at, UTC)),
            "context": {
                "customer": c.customer.to_wire(),
                "prechat": c.prechat,
                "subject": c.subject,
                "recent_conversations": [x.to_wire() for x in recent if x.id != c.id][:5],
                "sentiment": c.sentiment,
                "intent": self._intents.get(c.id),
                **await self._handoff_context(c.id),
                "summary": await offer_summary(self._services, c),
            },
        }

    async def _handoff_context(self, cid: str) -> dict[str, Any]:
        """``{"handoff": ...}`` when a bot handed this conversation to people."""
        bots = self._services.bots
        handoff = await bots.handoff_of(cid) if bots is not None else None
        return {"handoff": handoff} if handoff is not None else {}

    # -- supervisors ---------------------------------------------------------------

    def queues(self) -> dict[str, Any]:
        snapshot = self.router.queues_snapshot(time.time())
        return {name: _plain(q) for name, q in snapshot.items()}

    def agents(self) -> dict[str, Any]:
        return {aid: _plain(a) for aid, a in self.router.agents_snapshot().items()}

    async def _publish_snapshots(self) -> None:
        """Live queue and agent state for supervisors, at most once a second."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            frame = {"type": "operations", "queues": self.queues(), "agents": self.agents()}
            self._services.hub.publish(Event(SUPERVISORS, "frame", dumps(frame)))
            await asyncio.sleep(1.0)


def _plain(value: Any) -> Any:
    """Snapshots are frozen dataclasses with sets and mappings: make JSON of them."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset | tuple | list):
        return (
            sorted(_plain(v) for v in value)
            if isinstance(value, set | frozenset)
            else [_plain(v) for v in value]
        )
    return value
