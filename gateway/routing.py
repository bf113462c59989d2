"""The I/O shell around the routing core.

Every input that matters to routing becomes an event on one ordered log (an
in-process queue; with Redis, one stream for the cluster, read by the node
that holds the router lease: see docs/architecture.md "Several nodes"),
and a single consumer feeds them to the pure
``router.Router`` with the current time, then carries out the commands it
returns, in order: offers go to the agent's websocket, assignments to the
store and to both sides of the conversation. A timer sends ``Tick`` at the
router's next deadline (offer expiry, overflow, reconnect grace).

The store stays the source of truth for a conversation's status: on start
the router is rebuilt from the open conversations and the agents, so a
restart loses only the offers that were open (they are made again).

A conversation enters routing with its first customer message, so intake
rules can read it and sessions nobody wrote in never ring an agent. With a
skill finder that is unsure of the first message, it waits for a few more
(``[skill_finder] messages``, each at most ``wait``) before it enters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import intents
import router as r
from cluster import DecodeError, Membership, OfferIds
from conversations import AppendResult, Conversation, ConversationStatus
from conversations.errors import (
    AlreadyAssigned,
    ConversationNotFound,
    IllegalTransition,
    StaleFence,
)
from conversations.models import User, rfc3339
from gateway import tasks
from gateway.cluster import RedisCluster, entry_key, new_node_id
from gateway.connection import CLOSE_TRY_AGAIN
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
        self._arriving: dict[str, _Arrival] = {}
        """Conversations whose first customer message came and that have not
        entered routing yet (the skill finder may be reading more)."""
        self._consumer: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._snapshots: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self.skill_finder = intents.load_skill_finder(services.settings.skill_finder, config.queues)
        """The intent model applied at intake (``[skill_finder]``), or None."""
        self._intents: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """What the skill finder found, per conversation, for the offer (recent ones)."""
        self._finder_thread: ThreadPoolExecutor | None = None
        """Runs a skill finder too slow for the event loop (an encoder)."""
        self._invited_to = {p.name: p.queue for p in services.settings.proactive if p.queue}
        """Queues of proactive rules: a chat opened from an invitation goes there."""
        self._config = config
        self.node_id = new_node_id()
        """This process in ``GET /api/v1/cluster``."""
        self.cluster: RedisCluster | None = None
        """With Redis: the shared log and lease; this node routes while it leads."""
        self.fence: int | None = None
        """The fencing token while this node is the cluster's router."""
        self._renewed = 0.0
        """When the lease was last taken or renewed (monotonic)."""
        self._ids = OfferIds(0)
        self._outbox: asyncio.Queue[tuple[tuple[r.Event, ...], asyncio.Future[str] | None]]
        self._outbox = asyncio.Queue()
        self._cluster_tasks: list[asyncio.Task[None]] = []
        self._leading: list[asyncio.Task[None]] = []
        self._agents_here: dict[str, int] = {}
        self._presence_out: dict[str, str] = {}
        self._chosen_out: dict[str, str] = {}
        """Presence the router set, to record in Redis for the next router."""
        self._presence_seen: dict[str, str] = {}
        """Agents on this node: their presence as the router last said."""
        self._state: dict[str, Any] = {}
        """The router's queues and agents, as it published them (other nodes)."""
        self.partitioned = False
        """Cut off from Redis longer than the lease TTL, or dropped by the
        router: this node holds no sockets and takes none until it is back."""

    def _routed_user(self, user: User) -> bool:
        """Takes routed work: agents and bots, except the configured bots
        (``[[bots]]``), which get their work only from the bot runtime."""
        bots = self._services.bots
        return _takes_routed_work(user) and not (bots is not None and bots.claims(user))

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        settings = self._services.settings
        if settings.redis_url:
            self.cluster = RedisCluster(
                settings.redis_url,
                self.node_id,
                settings.router_lease_ttl_s,
                await self._services.store.cluster_id(),
            )
            self._services.commit_listeners.append(self._on_commit)
            self._cluster_tasks = [
                asyncio.create_task(self._append_outbox(), name="cluster-append"),
                asyncio.create_task(self._membership(), name="cluster-beat"),
                asyncio.create_task(self._contend(), name="cluster-lease"),
                asyncio.create_task(self._watch_state(), name="cluster-state"),
            ]
            return
        await self._rebuild()
        self._services.commit_listeners.append(self._on_commit)
        self._consumer = asyncio.create_task(self._consume(), name="router")
        self._timer = asyncio.create_task(self._tick(), name="router-timer")
        self._snapshots = asyncio.create_task(self._publish_snapshots(), name="router-snapshots")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self._services.commit_listeners.remove(self._on_commit)
        if self.cluster is not None:
            await tasks.stop(*self._cluster_tasks)
            token = self.fence
            await self._step_down()
            with contextlib.suppress(Exception):
                if token is not None:
                    await self.cluster.release(token)
                await self.cluster.leave()
            await self.cluster.close()
            return
        await tasks.stop(self._timer, self._snapshots, self._consumer)
        if self._finder_thread is not None:
            self._finder_thread.shutdown(wait=False, cancel_futures=True)

    async def _rebuild(self, arrivals: Mapping[str, r.ItemArrived] | None = None) -> None:
        """Replay the store into the router. Its commands are dropped: the
        store already says where everything is, and no agent is connected
        yet, so offers are made as agents arrive. ``arrivals``: items as
        they entered routing (with the first message and the proactive
        queue intake reads), for conversations the store alone would enter
        without them."""
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
                # The offer died with the previous router; it will be made again.
                conversation = await store.change_status(
                    conversation.id,
                    ConversationStatus.QUEUED,
                    actor="router",
                    data={"reason": "restart"},
                    fence=self.fence,
                )
                if self.cluster is not None:
                    self._services.announce_status(conversation)
            if conversation.last_seq == 0 and conversation.status != "assigned":
                continue  # arrives with its first message
            self._routed.add(conversation.id)
            agent_id = conversation.assigned_agent_id
            if agent_id is not None and agent_id not in routed_users:
                self._outside.add(conversation.id)
                continue
            logged = (arrivals or {}).get(conversation.id)
            events: list[r.Event] = [logged or self._arrival(conversation)]
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
        """Queue events for the router, applied as one step (see ``handle_all``).
        With Redis they go to the cluster's log, in this node's order."""
        if self.cluster is not None:
            self._outbox.put_nowait((events, None))
        else:
            self._log.put_nowait((events, None))

    async def call(self, event: r.Event) -> list[r.Command]:
        """Submit an event and wait until its commands are carried out (with
        Redis: until the router, on whichever node, has carried out its log
        entry, for at most the lease TTL; the commands are not returned)."""
        if self.cluster is not None:
            await self._call_cluster(event)
            return []
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
                if self.cluster is not None and self.fence is not None and self._presence_out:
                    presence, self._presence_out = self._presence_out, {}
                    chosen, self._chosen_out = self._chosen_out, {}
                    await self.cluster.record(self.fence, presence=presence, chosen=chosen)
            except StaleFence:
                log.warning("fenced out: another node routes now")
                asyncio.get_running_loop().create_task(self._step_down())
                return
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
            # Not ``wait_for``: on Python 3.11 it swallows a cancel that comes
            # just as the wait ends, and ``_consume`` wakes this task after
            # every step; a step-down then waited for this task for ever,
            # and the tasks after it (log reader, rescan) ran on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
                continue
            self._log.put_nowait(((r.Tick(),), None))
            await asyncio.sleep(0)  # let the consumer take it

    # -- inputs ---------------------------------------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            message = result.message
            cid = message.conversation_id
            if message.sender_role != "customer" or cid in self._routed:
                continue
            arriving = self._arriving.get(cid)
            if arriving is not None:
                arriving.add(message.text)  # for a skill finder still reading
                continue
            self._arriving[cid] = _Arrival([message.text])
            task = asyncio.create_task(self._arrive(cid))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _arrive(self, cid: str) -> None:
        arrival = self._arriving[cid]
        try:
            conversation = await self._services.store.get_conversation(cid)
            found = None
            if conversation.status in OPEN and cid not in self._routed:
                found = await self._read(arrival)
                if arrival.waited:  # it may have moved on meanwhile
                    conversation = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return
        finally:
            self._arriving.pop(cid, None)
        if cid in self._routed:
            return  # taken by hand meanwhile
        # Known from now on, routed or not: later messages cost nothing here.
        self._routed.add(cid)
        if conversation.status in OPEN:
            message = "\n".join(arrival.texts[: arrival.read])
            item = self._at_intake(self._item(conversation, message, time.time()), found)
            bots = self._services.bots
            if bots is not None and await bots.take(conversation, item):
                self._outside.add(cid)  # a bot has it until it hands off
                return
            self.submit(r.ItemArrived(item))

    async def _read(self, arrival: _Arrival) -> intents.Finding | None:
        """What the skill finder reads in the customer's first messages: the
        first one, and while it is unsure, the next ones (up to ``messages``,
        waiting at most ``wait`` for each). A sure first message enters
        routing at once. None without a skill finder, or when it failed."""
        finder = self.skill_finder
        if finder is None:
            return None
        config = finder.config
        arrival.waited = not finder.inline  # a thread's time: it may move on meanwhile
        found = await self._find(finder, arrival.texts[:1])
        while found is not None and not found.sure and arrival.read < config.messages:
            if len(arrival.texts) <= arrival.read:
                arrival.more.clear()
                arrival.waited = True
                try:
                    await asyncio.wait_for(arrival.more.wait(), config.wait)
                except TimeoutError:
                    break
            arrival.read = min(len(arrival.texts), config.messages)
            again = await self._find(finder, arrival.texts[: arrival.read])
            if again is not None and again.confidence >= found.confidence:
                found = again
        return found

    async def _find(
        self, finder: intents.SkillFinder, messages: list[str]
    ) -> intents.Finding | None:
        try:
            if finder.inline:
                return finder.find_in(messages)
            if self._finder_thread is None:
                self._finder_thread = ThreadPoolExecutor(1, thread_name_prefix="skill-finder")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._finder_thread, finder.find_in, messages)
        except Exception:
            log.exception("the skill finder failed; routing goes on without it")
            return None

    def taken(self, conversation: Conversation, by: User) -> None:
        """Someone took a conversation by hand: the router revokes any open
        offer for it. An agent's load counts it (the router learns of an agent
        who never connected first, or the item would stay in line and be
        offered to others); anyone else, a supervisor, takes it out of routing."""
        entered = conversation.id in self._routed
        self._routed.add(conversation.id)
        if not self._routed_user(by):
            self._outside.add(conversation.id)
            if entered or self.cluster is not None:  # (another node may have entered it)
                self.submit(r.ItemCancelled(conversation.id, "taken by staff"))
            return
        arrives = () if entered else (self._arrival(conversation),)
        self.submit(self._upsert(by), *arrives, r.ManualAssign(conversation.id, by.id, force=True))

    def transferred(self, conversation: Conversation, event: r.Transferred) -> None:
        """A held conversation goes to a queue. One held outside routing enters
        afresh: the router let it go. Into a queue a bot serves it goes to
        the bot, as a new conversation would, and leaves routing."""
        bots = self._services.bots
        if bots is not None and bots.transferred(conversation, event.agent_id, event.note or None):
            if conversation.id not in self._outside:  # the agent's load is freed
                self.submit(r.ItemCancelled(conversation.id, "transferred to a bot"))
            self._outside.add(conversation.id)
            self._routed.add(conversation.id)
            return
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
        # With Redis this node's router may not be the one that routes: tell
        # the one that does (an item or agent it does not know is ignored).
        clustered = self.cluster is not None
        for conversation in held:
            entered = clustered or conversation.id in self._routed
            if entered and conversation.id not in self._outside:
                self.submit(r.ItemCancelled(conversation.id, "its holder left routing"))
            self._routed.add(conversation.id)
            self._outside.add(conversation.id)
        if clustered or self.router.presence_of(user.id) is not None:
            self.submit(r.AgentRemoved(user.id))

    def _arrival(self, conversation: Conversation) -> r.ItemArrived:
        """An item for a conversation that is already under way."""
        arrived = conversation.created_at.timestamp()
        return r.ItemArrived(self._item(conversation, None, arrived))

    def _at_intake(self, item: r.WorkItem, found: intents.Finding | None) -> r.WorkItem:
        """A new item, before intake rules: the queue of the proactive rule
        that invited the visitor, then what the skill finder read in the
        first messages (intake rules see ``intent``, ``intent_confidence``)."""
        context = item.attributes.get("context") or {}
        rule = context.get("proactive") if item.queue is None else None
        invited = self._invited_to.get(rule) if isinstance(rule, str) else None
        if invited is not None:
            item = replace(item, queue=invited)
        if found is None:
            return item
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
        self._agents_here[user.id] = self._agents_here.get(user.id, 0) + 1
        self.submit(self._upsert(user))
        await self.call(r.AgentConnected(user.id))
        if self.cluster is not None and self.fence is None:
            with contextlib.suppress(Exception):
                seen = await self.cluster.presence_of(user.id)
                if seen is not None:
                    self._presence_seen[user.id] = seen

    def agent_disconnected(self, user_id: str) -> None:
        if self.partitioned:
            return  # the router dropped this node's connections already
        left = self._agents_here.get(user_id, 0) - 1
        if left > 0:
            self._agents_here[user_id] = left
        else:
            self._agents_here.pop(user_id, None)
        self.submit(r.AgentDisconnected(user_id))

    def presence(self, user_id: str) -> str:
        if self.cluster is not None and self.fence is None:
            return self._presence_seen.get(user_id, "offline")
        return self.router.presence_of(user_id) or "offline"

    def has_ready_agent(self, queue: str | None) -> bool:
        """Whether an agent could take new webchat work in ``queue`` now
        (proactive invitations ask), as the cluster's router sees it."""
        name = queue or self.router.config.default_queue
        if self.cluster is not None and self.fence is None:
            return bool(self._state.get("ready", {}).get(name, False))
        return bool(self.router.has_ready_agent(name))

    async def cluster_view(self) -> dict[str, Any]:
        """``GET /api/v1/cluster``: the nodes, which one routes, the log's lag
        (entries not yet carried out by the router)."""
        if self.cluster is None:
            now = rfc3339(datetime.now(UTC))
            here = {"id": self.node_id, "router": True, "last_seen": now}
            agents = sum(self._agents_here.values())
            return {"self": self.node_id, "nodes": [{**here, "agents": agents}], "log_lag": 0}
        status = await self.cluster.status()
        nodes = [
            {
                "id": node,
                "router": node == status["holder"],
                "last_seen": rfc3339(datetime.fromtimestamp(float(info["last_seen"]), UTC)),
                "agents": int(info.get("agents", 0)),
            }
            for node, info in sorted(status["nodes"].items())
        ]
        return {"self": self.node_id, "nodes": nodes, "log_lag": status["log_lag"]}

    # -- the cluster (with Redis) ------------------------------------------------

    async def _append_outbox(self) -> None:
        """This node's inputs go to the log in order; retried while Redis is away."""
        assert self.cluster is not None
        while True:
            events, appended = await self._outbox.get()
            while True:
                try:
                    entry_id = await self.cluster.append(events)
                    break
                except Exception:
                    log.warning("appending to the routing log failed; retrying", exc_info=True)
                    await asyncio.sleep(0.5)
            if appended is not None and not appended.done():
                appended.set_result(entry_id)

    async def _call_cluster(self, event: r.Event) -> None:
        assert self.cluster is not None
        appended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(((event,), appended))
        deadline = time.monotonic() + self.cluster.ttl
        with contextlib.suppress(TimeoutError):
            entry = entry_key(await asyncio.wait_for(appended, self.cluster.ttl))
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    done = await self.cluster.handled_position()
                    if done is not None and entry_key(done) >= entry:
                        return
                await asyncio.sleep(0.02)

    async def _contend(self) -> None:
        """Take the lease when it is free; renew it while leading."""
        cluster = self.cluster
        assert cluster is not None
        while True:
            try:
                if self.fence is None:
                    token = await cluster.acquire()
                    if token is not None:
                        self._renewed = time.monotonic()
                        # The rebuild may outlast the lease on a loaded node:
                        # keep it meanwhile, or the lease goes round the nodes.
                        keeping = asyncio.create_task(self._keep_lease(token))
                        try:
                            await self._lead(token)
                        except Exception:
                            # Half a router routes nobody: let another node try.
                            log.warning("taking over the routing failed", exc_info=True)
                            await self._step_down()
                            await cluster.release(token)
                        finally:
                            keeping.cancel()
                elif await cluster.renew(self.fence):
                    self._renewed = time.monotonic()
                else:
                    log.warning("lost the router lease")
                    await self._step_down()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("router lease check failed", exc_info=True)
            if self.fence is not None and time.monotonic() - self._renewed > cluster.ttl:
                await self._step_down()  # cannot renew: another node may route by now
            await asyncio.sleep(cluster.ttl / 4)

    async def _keep_lease(self, token: int) -> None:
        """Renew the lease while the router is being built; stop when it
        cannot be."""
        assert self.cluster is not None
        while True:
            await asyncio.sleep(self.cluster.ttl / 4)
            try:
                if not await self.cluster.renew(token):
                    return
            except Exception:
                log.warning("router lease renewal failed", exc_info=True)
                continue
            self._renewed = time.monotonic()

    async def _lead(self, token: int) -> None:
        """Become the router: fence the store, rebuild from the store plus the
        connections and statuses as of the log's last entry, read on from there."""
        assert self.cluster is not None
        store = self._services.store
        found = await store.raise_fence(token)
        if found >= token:
            # A later router fenced the store, or Redis restarted empty and
            # grants tokens again from 1: lift its counter past the fence so
            # the next grant can route, and let go of this one.
            log.warning("token %d is not above the store's fence %d; retrying", token, found)
            await self.cluster.lift_token(found)
            await self.cluster.release(token)
            return
        log.warning("routing the cluster (token %d)", token)
        self.fence, self._ids = token, OfferIds(token)
        self.router = r.Router(self._config)
        self._routed.clear()
        self._outside.clear()
        self._log = asyncio.Queue()
        handled = await self.cluster.handled_position()
        snapshot = await self.cluster.snapshot()
        await self._rebuild(await self._unhandled_arrivals(handled, snapshot.last_id))
        live = {m.id for m in self._live(snapshot.nodes)}
        events: list[r.Event] = []
        for node, conns in sorted(snapshot.conns.items()):
            if node not in live:
                continue
            for agent_id, n in sorted(conns.items()):
                if self.router.presence_of(agent_id) is None:
                    continue
                events.extend(r.AgentConnected(agent_id) for _ in range(n))
                status = snapshot.chosen.get(agent_id)
                if status is not None:
                    events.append(r.PresenceChanged(agent_id, status))
        self._log.put_nowait((tuple(events), None))
        self._leading = [
            asyncio.create_task(self._consume(), name="router"),
            asyncio.create_task(self._tick(), name="router-timer"),
            asyncio.create_task(self._publish_snapshots(), name="router-snapshots"),
            asyncio.create_task(self._follow(snapshot.last_id, token), name="router-log"),
            asyncio.create_task(self._rescan(), name="router-rescan"),
        ]
        with contextlib.suppress(Exception):
            await self.cluster.record(token, entry_id=snapshot.last_id, number=snapshot.appended)

    async def _unhandled_arrivals(self, handled: str | None, upto: str) -> dict[str, r.ItemArrived]:
        """Arrivals the last router did not record as carried out, up to the
        snapshot: the store has their conversations, but not the first
        message and proactive queue intake reads (this router reads on
        after ``upto``, so it would never see them). Every arrival while
        no node routes is one of these."""
        assert self.cluster is not None
        arrivals: dict[str, r.ItemArrived] = {}
        for _, events in await self.cluster.entries_between(handled, upto):
            for event in events:
                if isinstance(event, r.ItemArrived):
                    arrivals.setdefault(event.item.id, event)
        return arrivals

    def _live(self, nodes: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        members = Membership(self.cluster.ttl if self.cluster else 5.0)
        for node, info in nodes.items():
            members.beat(node, float(info.get("last_seen", 0)), int(info.get("agents", 0)))
        return members.alive(time.time())

    async def _step_down(self) -> None:
        leading, self._leading = self._leading, []
        self.fence = None
        await tasks.stop(*(task for task in leading if task is not asyncio.current_task()))
        self.router = r.Router(self._config)

    async def _follow(self, after: str, token: int) -> None:
        """Feed the log to the router, from the snapshot's position on."""
        assert self.cluster is not None
        while True:
            try:
                entries = await self.cluster.read(after, 1000)
            except asyncio.CancelledError:
                raise
            except DecodeError:
                log.exception("an undecodable entry after %s in the routing log", after)
                continue
            except Exception:
                log.warning("reading the routing log failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if not entries:
                continue
            loop = asyncio.get_running_loop()
            done: asyncio.Future[list[r.Command]] = loop.create_future()
            done.set_result([])
            for entry_id, _, events in entries:
                inward = tuple(e for e in map(self._inward, events) if e is not None)
                if inward:
                    done = loop.create_future()
                    self._log.put_nowait((inward, done))
                after = entry_id
            # Carried out, then recorded: a call waiting on its entry sees
            # the router's answer, and ``log_lag`` what is left.
            with contextlib.suppress(Exception):
                await done
            with contextlib.suppress(Exception):
                await self.cluster.record(token, entry_id=after, number=entries[-1][1])

    def _inward(self, event: r.Event) -> r.Event | None:
        """Offer ids of this router's offers as it made them; an earlier
        router's offer is gone (its conversation was offered again)."""
        if not isinstance(event, r.OfferAccepted | r.OfferRejected):
            return event
        offer_id = self._ids.inward(event.offer_id)
        if offer_id is None:
            self._services.tell_user(
                event.agent_id,
                {
                    "type": "error",
                    "code": "offer_revoked",
                    "message": f"the offer was revoked: {event.offer_id!r}",
                    "ref": event.offer_id,
                },
            )
            return None
        if isinstance(event, r.OfferAccepted):
            return r.OfferAccepted(offer_id, event.agent_id)
        return r.OfferRejected(offer_id, event.agent_id, event.reason)

    async def _membership(self) -> None:
        """Beat every second; the router drops the connections of lost nodes.
        A node that cannot beat for the lease TTL, or finds it was dropped,
        is cut off: it closes its sockets (their clients reconnect to another
        node) and takes none until it beats again (see ``partitioned``)."""
        cluster = self.cluster
        assert cluster is not None
        beaten = time.monotonic()
        while True:
            try:
                member = await cluster.beat(sum(self._agents_here.values()))
                beaten = time.monotonic()
                if not member and self._agents_here:
                    self._cut_off("the router dropped this node")
                elif self.partitioned:
                    log.warning("back in the cluster")
                self.partitioned = False
                if self.fence is not None:
                    await self._drop_lost()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("cluster heartbeat failed", exc_info=True)
                if time.monotonic() - beaten > cluster.ttl and not self.partitioned:
                    self._cut_off("no heartbeat within the lease TTL")
            await asyncio.sleep(min(1.0, cluster.ttl / 4))

    def _cut_off(self, why: str) -> None:
        """Stop acknowledging on this node rather than split the brain."""
        log.warning("cut off from the cluster (%s): closing this node's sockets", why)
        self.partitioned = True
        self._agents_here.clear()
        self._presence_seen.clear()
        kept = []
        while not self._outbox.empty():
            events, appended = self._outbox.get_nowait()
            rest = tuple(
                e for e in events if not isinstance(e, r.AgentConnected | r.AgentDisconnected)
            )
            if rest or appended is not None:
                kept.append((rest, appended))
        for item in kept:
            self._outbox.put_nowait(item)
        for conn in list(self._services.connections):
            conn.close(CLOSE_TRY_AGAIN, "this node is cut off from the cluster")

    async def _watch_state(self) -> None:
        """The router's queues and agents, for this node's API (when it is
        not the router itself)."""
        assert self.cluster is not None
        while True:
            if self.fence is None:
                with contextlib.suppress(Exception):
                    self._state = await self.cluster.state() or {}
            await asyncio.sleep(0.25)

    async def _rescan(self) -> None:
        """Route what the log missed: a conversation whose first message was
        stored but whose arrival never reached the log (its node died in
        between). Every few seconds, queued ones the router does not know."""
        assert self.cluster is not None
        store = self._services.store
        every = max(2.0, self.cluster.ttl)
        while True:
            await asyncio.sleep(every)
            # First let the router handle what is on the log now: an arrival
            # it has not read yet (it is behind) is not lost. Then read the
            # store, so that nothing assigned meanwhile looks queued.
            caught_up: asyncio.Future[list[r.Command]] = asyncio.get_running_loop().create_future()
            self._log.put_nowait(((), caught_up))
            with contextlib.suppress(Exception):
                await caught_up
            try:
                queued = await store.list_conversations(
                    statuses=[ConversationStatus.QUEUED.value], limit=10_000
                )
            except Exception:
                log.warning("rescanning queued conversations failed", exc_info=True)
                continue
            now = time.time()
            for c in reversed(queued):  # oldest first
                if c.last_seq == 0 or self.router.knows_item(c.id) or c.id in self._outside:
                    continue
                if now - c.updated_at.timestamp() < every:
                    continue  # its arrival may be on its way
                log.warning("conversation %s was not in routing; it enters now", c.id)
                self._routed.add(c.id)
                self._log.put_nowait(((self._arrival(c),), None))

    async def _drop_lost(self) -> None:
        assert self.cluster is not None
        nodes = await self.cluster.nodes()
        live = {m.id for m in self._live(nodes)}
        for node in sorted(set(nodes) - live):
            conns = await self.cluster.drop(node)
            log.warning(
                "node %s was lost; dropping %d agent connections", node, sum(conns.values())
            )
            events = [
                r.AgentDisconnected(agent_id)
                for agent_id, n in sorted(conns.items())
                for _ in range(n)
            ]
            if events:
                self._log.put_nowait((tuple(events), None))

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
                        data={
                            "offer_id": self._ids.outward(command.offer_id),
                            "agent_id": command.agent_id,
                        },
                        fence=self.fence,
                    )
                    services.announce_status(conversation)
            except (IllegalTransition, ConversationNotFound):
                log.warning("offer %s for a conversation that moved on", command.offer_id)
                if self.cluster is not None:  # closed meanwhile: out of routing
                    self._log.put_nowait(((r.ItemCancelled(command.item_id, "moved on"),), None))
                return
            services.tell_user(command.agent_id, await self._offer_frame(command, conversation))
        elif isinstance(command, r.OfferRevoked):
            services.tell_user(
                command.agent_id,
                {
                    "type": "offer_revoked",
                    "offer_id": self._ids.outward(command.offer_id),
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
                    command.item_id,
                    command.agent_id,
                    actor="router",
                    via_router=True,
                    fence=self.fence,
                )
            except StaleFence:
                raise
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
            if self.cluster is not None:
                self._presence_out[command.agent_id] = command.status
                chosen = self.router.chosen_of(command.agent_id)
                if chosen is not None:
                    self._chosen_out[command.agent_id] = chosen
        elif isinstance(command, r.Rejected):
            if isinstance(command.event, r.AgentRemoved):
                return  # (with Redis: removing someone the router never knew)
            if isinstance(command.event, r.Transferred) and command.code == "unknown_item":
                # Held outside routing as far as this router knows (a
                # supervisor took it, perhaps through another node, whose
                # ``_outside`` the transferring node does not share).
                await self._reenter_from_store(command.event.item_id)
                return
            agent_id = getattr(command.event, "agent_id", None)
            if agent_id is not None:
                ref = getattr(command.event, "offer_id", None)
                ref = self._ids.outward(ref) if isinstance(ref, str) else ref
                services.tell_user(
                    agent_id,
                    {"type": "error", "code": command.code, "message": command.message, "ref": ref},
                )

    async def _reenter_from_store(self, cid: str) -> None:
        """Put a conversation the store says is queued in line afresh."""
        try:
            conversation = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return
        if conversation.status != ConversationStatus.QUEUED.value:
            return
        self._outside.discard(cid)
        self._routed.add(cid)
        self._log.put_nowait(((self._arrival(conversation),), None))

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
                    cid, ConversationStatus.QUEUED, actor="router", fence=self.fence
                )
                self._services.announce_status(conversation)

    async def _offer_frame(self, command: r.OfferMade, c: Conversation) -> dict[str, Any]:
        recent = await self._services.store.list_conversations(customer_id=c.customer.id, limit=6)
        return {
            "type": "offer",
            "offer_id": self._ids.outward(command.offer_id),
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
        """Queues as the router sees them (on another node than the router's:
        as it last published them, a fraction of a second ago)."""
        if self.cluster is not None and self.fence is None:
            return dict(self._state.get("queues", {}))
        snapshot = self.router.queues_snapshot(time.time())
        return {name: _plain(q) for name, q in snapshot.items()}

    def agents(self) -> dict[str, Any]:
        if self.cluster is not None and self.fence is None:
            return dict(self._state.get("agents", {}))
        return {aid: _plain(a) for aid, a in self.router.agents_snapshot().items()}

    async def _publish_snapshots(self) -> None:
        """Live queue and agent state for supervisors, at most once a second;
        with Redis also for the other nodes, at most four times a second."""
        sent = 0.0
        while True:
            await self._changed.wait()
            self._changed.clear()
            queues, agents = self.queues(), self.agents()
            if self.cluster is not None:
                ready = {q: self.router.has_ready_agent(q) for q in self.router.config.queues}
                with contextlib.suppress(Exception):
                    await self.cluster.publish_state(
                        {"queues": queues, "agents": agents, "ready": ready}
                    )
            if time.monotonic() - sent >= 1.0:
                sent = time.monotonic()
                frame = {"type": "operations", "queues": queues, "agents": agents}
                self._services.hub.publish(Event(SUPERVISORS, "frame", dumps(frame)))
            else:
                self._changed.set()  # the supervisors' frame is due in a moment
            await asyncio.sleep(0.25 if self.cluster is not None else 1.0)


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


class _Arrival:
    """The customer messages of a conversation about to enter routing."""

    __slots__ = ("more", "read", "texts", "waited")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.read = 1
        """How many of ``texts`` the skill finder has read."""
        self.more = asyncio.Event()
        self.waited = False

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.more.set()
