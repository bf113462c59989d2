"""The Router: a sans-I/O routing core.

``Router.handle(event, now)`` applies one event and returns the commands the
shell must carry out. It never reads a clock, awaits, does I/O or draws
random numbers; the same events at the same times give the same commands.

How a call runs:

1. Deadlines due at ``now`` fire first, in time order (offer expiry,
   overflow steps, reconnect grace, lapsed declines), each at its own time,
   so a late ``Tick`` or an accept that arrives after expiry sees the state
   it would have seen on time.
2. The event is applied. Anything that may allow a new match marks an agent
   or an item *dirty*.
3. Settle: every dirty agent takes the best waiting item it can (repeatedly,
   while it has room), then every dirty item goes to the best ready agent.
   After settling no waiting item has a ready, eligible agent, which is what
   makes FIFO hold: an agent who frees up always takes the head of the line.
"""

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import count
from typing import Any

from presence.tracker import PresenceTracker
from router.agents import AgentIndex, AgentState
from router.assignment import Method, choose
from router.capacity import Capacity, Load
from router.config import CapacityProfile, OverflowStep, RoutingConfig
from router.events import (
    AgentConnected,
    AgentDisconnected,
    AgentRemoved,
    AgentUpserted,
    Command,
    Event,
    ItemArrived,
    ItemAssigned,
    ItemCancelled,
    ItemClosed,
    ItemOverflowed,
    ItemQueued,
    ItemRequeued,
    ManualAssign,
    OfferAccepted,
    OfferMade,
    OfferRejected,
    OfferRevoked,
    PresenceChanged,
    PresenceUpdated,
    PriorityChanged,
    Rejected,
    Tick,
    Transferred,
)
from router.intake import Intake
from router.items import Channel, ItemStatus, check_item_transition
from router.offers import Offer, OfferEvent, OfferState, RevokeReason
from router.overflow import WIDENING, describe, widen
from router.queues import Queue, SortKey
from router.skills import MatchMode, Requirements, normalize, satisfies
from router.snapshots import AgentSnapshot, QueueSnapshot

# With more ready agents than this on a channel, longest-idle walks agents in
# idle order instead of scoring every ready one.
_SCAN_READY = 32

# Finished offers remembered to explain a stale accept ("expired", not "unknown").
_ENDED_MEMORY = 100_000

_STALE_CODES = {
    OfferState.EXPIRED: ("offer_expired", "the offer expired"),
    OfferState.REVOKED: ("offer_revoked", "the offer was revoked"),
    OfferState.ACCEPTED: ("offer_already_accepted", "the offer was already accepted"),
    OfferState.REJECTED: ("offer_rejected", "the offer was already rejected"),
}


class _Deadline(IntEnum):
    OFFER = 0
    OVERFLOW = 1
    GRACE = 2
    DECLINE = 3


@dataclass(slots=True, eq=False)
class _Item:
    id: str
    channel: Channel
    arrived_at: float
    queue: str
    priority: int
    base_reqs: Requirements  # what intake (or a transfer) asked for
    reqs: Requirements  # the current overflow ring
    seq: int
    enqueued_at: float  # when it entered its current queue (overflow clock)
    status: ItemStatus = ItemStatus.WAITING
    key: SortKey = (0.0, 0.0, 0)
    step: int = 0  # next overflow step of the current queue
    version: int = 0  # bumped on every queue change; stale deadlines see it
    declined: dict[str, float] = field(default_factory=dict)
    offer: Offer | None = None
    agent_id: str | None = None
    no_agent_checked: bool = False
    hops: int = 0  # overflow moves during the current call (cycle guard)


class Router:
    """Routes work items to agents. See the module docstring for the contract."""

    def __init__(self, config: RoutingConfig | None = None) -> None:
        cfg = config or RoutingConfig()
        self.config = cfg
        self._presence = PresenceTracker(cfg.presence)
        self._intake = Intake(cfg)
        self._queues = {n: Queue(n, cfg.queue_aging(n)) for n in cfg.queues}
        self._presences = {n: cfg.queue_presences(n) for n in cfg.queues}
        self._timeouts = {n: cfg.queue_offer_timeout(n) for n in cfg.queues}
        self._steps: dict[str, list[OverflowStep]] = {n: q.overflow for n, q in cfg.queues.items()}
        self._methods = {n: q.method for n, q in cfg.queues.items()}
        self._match = {n: q.match for n, q in cfg.queues.items()}
        self._profiles = {n: p.resolve() for n, p in cfg.capacity.items()}
        self._offer_limit = cfg.offers.per_agent
        self._decline_memory = cfg.offers.decline_memory
        self._index = AgentIndex()
        self._items: dict[str, _Item] = {}
        self._offers: dict[str, Offer] = {}
        self._ended: OrderedDict[str, OfferState] = OrderedDict()
        self._deadlines: list[tuple[float, int, _Deadline, str, int]] = []
        self._tiebreak = count()
        self._seq = count()
        self._offer_counter = 0
        self._rr_last: dict[str, str | None] = dict.fromkeys(cfg.queues)
        self._dirty_agents: set[str] = set()
        self._dirty_items: set[str] = set()
        self._hopped: list[_Item] = []
        self._now = float("-inf")
        self._handlers: dict[type, Callable[[Any, float, list[Command]], None]] = {
            AgentUpserted: self._on_agent_upserted,
            AgentRemoved: self._on_agent_removed,
            PresenceChanged: self._on_presence_changed,
            AgentConnected: self._on_connected,
            AgentDisconnected: self._on_disconnected,
            ItemArrived: self._on_item_arrived,
            ItemCancelled: self._on_item_gone,
            ItemClosed: self._on_item_gone,
            OfferAccepted: self._on_offer_accepted,
            OfferRejected: self._on_offer_rejected,
            Tick: lambda event, now, out: None,
            Transferred: self._on_transferred,
            PriorityChanged: self._on_priority_changed,
            ItemRequeued: self._on_item_requeued,
            ManualAssign: self._on_manual_assign,
        }

    # --- public API -----------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Command]:
        """Apply ``event`` at time ``now`` (seconds) and return the commands.

        Time never runs backwards: a ``now`` earlier than the last one is
        treated as the last one. Events invalid in the current state give a
        ``Rejected`` command and change nothing; an unknown event type raises
        ``TypeError``.
        """
        return self.handle_all((event,), now)

    def handle_all(self, events: Sequence[Event], now: float) -> list[Command]:
        """Apply ``events`` in order as one step: offers are made after the
        last of them only. An item that arrives already taken by hand
        (``ItemArrived``, then ``ManualAssign``) is so never offered to anyone
        in between."""
        handlers = []
        for event in events:
            handler = self._handlers.get(type(event))
            if handler is None:
                raise TypeError(f"not a router event: {event!r}")
            handlers.append(handler)
        now = max(now, self._now)
        self._now = now
        out: list[Command] = []
        self._fire_due(now, out)
        for event, handler in zip(events, handlers, strict=True):
            handler(event, now, out)
        self._settle(now, out)
        return out

    def next_deadline(self) -> float | None:
        """When the shell should send a ``Tick`` at the latest (None: no need)."""
        while self._deadlines and not self._live(self._deadlines[0]):
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def queues_snapshot(self, now: float) -> dict[str, QueueSnapshot]:
        snaps = {}
        for name, queue in self._queues.items():
            waiting = queue.waiting()
            oldest = min((k[1] for k, _ in waiting), default=None)
            snaps[name] = QueueSnapshot(
                name=name,
                waiting=len(waiting),
                offered=queue.offered,
                longest_wait=max(0.0, now - oldest) if oldest is not None else 0.0,
                by_priority=dict(sorted(queue.by_priority.items(), reverse=True)),
            )
        return snaps

    def presence_of(self, agent_id: str) -> str | None:
        """One agent's effective presence (None for an agent never seen)."""
        if agent_id not in self._index.agents:
            return None
        return self._presence.effective(agent_id)

    def chosen_of(self, agent_id: str) -> str | None:
        """One agent's chosen status (None for an agent never seen)."""
        if agent_id not in self._index.agents:
            return None
        return self._presence.chosen(agent_id)

    def knows_item(self, item_id: str) -> bool:
        """Whether a work item is open in the router."""
        return item_id in self._items

    def has_ready_agent(self, queue: str, channel: Channel = "webchat") -> bool:
        """Whether an agent who serves ``queue`` could take new work on
        ``channel`` now: connected, in a status the queue takes work from,
        with free capacity (proactive invitations ask before inviting)."""
        presences = self._presences.get(queue)
        if presences is None:
            return False
        for agent_id in self._index.ready[channel]:
            agent = self._index.agents[agent_id]
            if agent.serves(queue) and self._presence.effective(agent_id) in presences:
                return True
        return False

    def agents_snapshot(self) -> dict[str, AgentSnapshot]:
        snaps = {}
        for aid, agent in sorted(self._index.agents.items()):
            cap = agent.capacity
            snaps[aid] = AgentSnapshot(
                agent_id=aid,
                name=agent.name,
                presence=self._presence.effective(aid),
                connected=self._presence.is_connected(aid),
                load={ch: n for ch, n in agent.load.counts.items() if n},
                capacity={ch: cap.limits.get(ch) for ch in sorted(cap.accepted)},
                units_used=agent.load.units,
                units=cap.units,
                open_offers=tuple(sorted(agent.offers)),
                assigned=tuple(sorted(agent.assigned)),
            )
        return snaps

    # --- deadlines --------------------------------------------------------------

    def _push(self, at: float, kind: _Deadline, ref: str, token: int = 0) -> None:
        heapq.heappush(self._deadlines, (at, next(self._tiebreak), kind, ref, token))

    def _live(self, entry: tuple[float, int, _Deadline, str, int]) -> bool:
        at, _, kind, ref, token = entry
        if kind is _Deadline.OFFER:
            offer = self._offers.get(ref)
            return offer is not None and offer.expires_at == at
        if kind is _Deadline.GRACE:
            return ref in self._presence and self._presence.grace_epoch(ref) == token
        item = self._items.get(ref)
        if item is None:
            return False
        if kind is _Deadline.DECLINE:
            # Stays live while the item is open: an item offered to someone
            # else when a decline lapses may be back in line later.
            return True
        return item.status is ItemStatus.WAITING and item.version == token

    def _fire_due(self, now: float, out: list[Command]) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            entry = heapq.heappop(self._deadlines)
            if not self._live(entry):
                continue
            at, _, kind, ref, token = entry
            if kind is _Deadline.OFFER:
                self._expire_offer(self._offers[ref], at, out)
            elif kind is _Deadline.GRACE:
                change = self._presence.expire_grace(ref, token, at)
                if change is not None:
                    out.append(PresenceUpdated(ref, change))
                self._refresh(self._index.agents[ref], out)
            elif kind is _Deadline.OVERFLOW:
                self._overflow_due(self._items[ref], at, out)
            else:
                self._dirty_items.add(ref)

    # --- agents -----------------------------------------------------------------

    def _unknown_agent(self, event: Event, agent_id: str, out: list[Command]) -> None:
        out.append(Rejected(event, "unknown_agent", f"no agent {agent_id!r}"))

    def _on_agent_upserted(self, e: AgentUpserted, now: float, out: list[Command]) -> None:
        capacity: Capacity | None
        if e.capacity is None:
            capacity = self._profiles[self.config.default_capacity]
        elif isinstance(e.capacity, CapacityProfile):
            capacity = e.capacity.resolve()
        else:
            capacity = self._profiles.get(e.capacity)
            if capacity is None:
                out.append(
                    Rejected(
                        e,
                        "unknown_capacity_profile",
                        f"no capacity profile {e.capacity!r}; known: {sorted(self._profiles)}",
                    )
                )
                return
        queues = None if e.queues is None else frozenset(q for q in e.queues if q in self._queues)
        agent = self._index.get(e.agent_id)
        if agent is None:
            agent = AgentState(e.agent_id, e.name, dict(e.skills), capacity, queues)
            self._index.add(agent)
            self._presence.add(e.agent_id)
        else:
            agent.name = e.name
            agent.queues = queues
            self._index.set_skills(agent, dict(e.skills))
            if capacity != agent.capacity:
                for offer in self._sorted_offers(agent):
                    self._revoke(offer, RevokeReason.UNAVAILABLE, now, out)
                agent.capacity = capacity
                self._recount(agent)
        self._refresh(agent, out)

    def _recount(self, agent: AgentState) -> None:
        """Recompute load after a capacity change; mark what no longer fits."""
        items = [self._items[i] for i in sorted(agent.assigned)]
        agent.load.recompute([it.channel for it in items], agent.capacity)
        agent.overcommit.clear()
        routed = Load()
        for it in items:
            routed.add(it.channel, agent.capacity)
            if not agent.capacity.within(routed):
                routed.remove(it.channel, agent.capacity)
                agent.overcommit.add(it.id)

    def _on_agent_removed(self, e: AgentRemoved, now: float, out: list[Command]) -> None:
        agent = self._index.get(e.agent_id)
        if agent is None:
            return self._unknown_agent(e, e.agent_id, out)
        for offer in self._sorted_offers(agent):
            self._revoke(offer, RevokeReason.UNAVAILABLE, now, out)
        for item_id in sorted(agent.assigned):
            item = self._items[item_id]
            self._release(agent, item, out)
            item.agent_id = None
            self._set_queue(item, item.queue, now)
            out.append(ItemQueued(item.id, item.queue, item.priority, "returned"))
            self._to_waiting(item, now, out)
        self._index.remove(e.agent_id)
        self._presence.remove(e.agent_id)
        self._dirty_agents.discard(e.agent_id)

    def _on_presence_changed(self, e: PresenceChanged, now: float, out: list[Command]) -> None:
        agent = self._index.get(e.agent_id)
        if agent is None:
            return self._unknown_agent(e, e.agent_id, out)
        if e.status not in self._presence.catalog:
            out.append(
                Rejected(
                    e,
                    "unknown_status",
                    f"unknown presence {e.status!r}; known: {self._presence.catalog.names}",
                )
            )
            return
        self._set_status(agent, e.status, now, out)

    def _set_status(self, agent: AgentState, status: str, now: float, out: list[Command]) -> None:
        change = self._presence.set_status(agent.id, status)
        if change is not None:
            out.append(PresenceUpdated(agent.id, change))
        if not self._presence.takes_work(agent.id):
            for offer in self._sorted_offers(agent):
                self._revoke(offer, RevokeReason.UNAVAILABLE, now, out)
        self._refresh(agent, out)

    def _on_connected(self, e: AgentConnected, now: float, out: list[Command]) -> None:
        agent = self._index.get(e.agent_id)
        if agent is None:
            return self._unknown_agent(e, e.agent_id, out)
        change = self._presence.connect(agent.id)
        if change is not None:
            out.append(PresenceUpdated(agent.id, change))
        self._refresh(agent, out)

    def _on_disconnected(self, e: AgentDisconnected, now: float, out: list[Command]) -> None:
        agent = self._index.get(e.agent_id)
        if agent is None:
            return self._unknown_agent(e, e.agent_id, out)
        grace_until = self._presence.disconnect(agent.id, now)
        if grace_until is None:
            return
        # Open offers go back at once: nobody can accept them now.
        for offer in self._sorted_offers(agent):
            self._revoke(offer, RevokeReason.UNAVAILABLE, now, out)
        self._push(grace_until, _Deadline.GRACE, agent.id, self._presence.grace_epoch(agent.id))
        self._refresh(agent, out)

    def _sorted_offers(self, agent: AgentState) -> list[Offer]:
        return [self._offers[o] for o in sorted(agent.offers, key=lambda o: int(o[2:]))]

    def _refresh(self, agent: AgentState, out: list[Command]) -> None:
        """Re-index the agent after any change, and mark them for matching."""
        self._index.refresh(agent, self._presence.takes_work(agent.id), self._offer_limit)
        if self._presence.settings.busy_at_capacity:
            cap = agent.capacity
            full = not any(cap.can_take(agent.load, ch) for ch in cap.accepted)
            change = self._presence.set_full(agent.id, full)
            if change is not None:
                out.append(PresenceUpdated(agent.id, change))
        if agent.ready_on:
            self._dirty_agents.add(agent.id)

    # --- items ------------------------------------------------------------------

    def _item_or_reject(self, event: Event, item_id: str, out: list[Command]) -> _Item | None:
        item = self._items.get(item_id)
        if item is None:
            out.append(Rejected(event, "unknown_item", f"no open item {item_id!r}"))
        return item

    def _queue_or_reject(self, event: Event, queue: str | None, out: list[Command]) -> bool:
        if queue is None or queue in self._queues:
            return True
        out.append(
            Rejected(event, "unknown_queue", f"no queue {queue!r}; known: {sorted(self._queues)}")
        )
        return False

    def _on_item_arrived(self, e: ItemArrived, now: float, out: list[Command]) -> None:
        raw = e.item
        if raw.id in self._items:
            out.append(Rejected(e, "duplicate_item", f"item {raw.id!r} is already open"))
            return
        if not self._queue_or_reject(e, raw.queue, out):
            return
        decision = self._intake.decide(raw)
        item = _Item(
            id=raw.id,
            channel=raw.channel,
            arrived_at=raw.arrived_at,
            queue=decision.queue,
            priority=decision.priority,
            base_reqs=decision.requirements,
            reqs=decision.requirements,
            seq=next(self._seq),
            enqueued_at=now,
        )
        self._items[item.id] = item
        out.append(ItemQueued(item.id, item.queue, item.priority, "arrived"))
        self._enqueue(item, now, out)

    def _on_item_gone(self, e: ItemCancelled | ItemClosed, now: float, out: list[Command]) -> None:
        item = self._item_or_reject(e, e.item_id, out)
        if item is None:
            return
        if item.status is ItemStatus.OFFERED:
            assert item.offer is not None
            self._revoke(item.offer, RevokeReason.CANCELLED, now, out, requeue=False)
        elif item.status is ItemStatus.ASSIGNED:
            assert item.agent_id is not None
            self._release(self._index.agents[item.agent_id], item, out)
        else:
            self._dequeue(item)
        item.status = check_item_transition(item.status, ItemStatus.CLOSED)
        del self._items[item.id]

    def _on_priority_changed(self, e: PriorityChanged, now: float, out: list[Command]) -> None:
        item = self._item_or_reject(e, e.item_id, out)
        if item is None or not self._queue_or_reject(e, e.queue, out):
            return
        waiting = item.status is ItemStatus.WAITING
        if waiting:
            self._dequeue(item)
        item.priority = e.priority
        if e.queue is not None and e.queue != item.queue:
            self._set_queue(item, e.queue, now)
        if waiting:
            out.append(ItemQueued(item.id, item.queue, item.priority, "priority"))
            self._enqueue(item, now, out)

    def _on_transferred(self, e: Transferred, now: float, out: list[Command]) -> None:
        item = self._item_or_reject(e, e.item_id, out)
        if item is None or not self._queue_or_reject(e, e.queue, out):
            return
        if item.status is not ItemStatus.ASSIGNED or item.agent_id != e.agent_id:
            out.append(
                Rejected(e, "not_assigned", f"item {e.item_id!r} is not assigned to {e.agent_id!r}")
            )
            return
        self._hand_back(item, now, out)
        if e.skills is not None:
            item.base_reqs = normalize(e.skills)
        self._set_queue(item, e.queue, now)
        out.append(ItemQueued(item.id, item.queue, item.priority, "transfer", e.note))
        self._to_waiting(item, now, out)

    def _on_item_requeued(self, e: ItemRequeued, now: float, out: list[Command]) -> None:
        item = self._item_or_reject(e, e.item_id, out)
        if item is None:
            return
        if item.status is not ItemStatus.ASSIGNED:
            out.append(Rejected(e, "not_assigned", f"item {e.item_id!r} is not assigned"))
            return
        self._hand_back(item, now, out)
        self._set_queue(item, item.queue, now)
        out.append(ItemQueued(item.id, item.queue, item.priority, "requeued", e.reason))
        self._to_waiting(item, now, out)

    def _hand_back(self, item: _Item, now: float, out: list[Command]) -> None:
        """The assigned agent gives the item up; they are not offered it again soon."""
        assert item.agent_id is not None
        agent = self._index.agents[item.agent_id]
        self._release(agent, item, out)
        self._decline(item, agent.id, now)
        item.agent_id = None

    def _on_manual_assign(self, e: ManualAssign, now: float, out: list[Command]) -> None:
        item = self._item_or_reject(e, e.item_id, out)
        if item is None:
            return
        agent = self._index.get(e.agent_id)
        if agent is None:
            return self._unknown_agent(e, e.agent_id, out)
        if item.status is ItemStatus.ASSIGNED:
            out.append(
                Rejected(
                    e, "already_assigned", f"item {item.id!r} is assigned to {item.agent_id!r}"
                )
            )
            return
        offer = item.offer
        if offer is not None and offer.agent_id == agent.id:
            self._accept(offer, now, out)
            return
        if not e.force and not agent.capacity.can_take(agent.load, item.channel):
            out.append(
                Rejected(e, "at_capacity", f"agent {agent.id!r} has no room for {item.channel}")
            )
            return
        if offer is not None:
            self._revoke(offer, RevokeReason.TAKEN, now, out, requeue=False)
        else:
            self._dequeue(item)
        over = not agent.capacity.can_take(agent.load, item.channel)
        agent.load.add(item.channel, agent.capacity)
        if over:
            agent.overcommit.add(item.id)
        self._assign(item, agent, None, now, out)

    def _enqueue(self, item: _Item, now: float, out: list[Command]) -> None:
        """Put a waiting item into its queue, then apply any overflow step due."""
        queue = self._queues[item.queue]
        item.key = queue.key(item.priority, item.arrived_at, item.seq)
        queue.add(item.id, item.key, item.channel, item.reqs, item.priority)
        item.no_agent_checked = False
        self._dirty_items.add(item.id)
        self._overflow_due(item, now, out)

    def _dequeue(self, item: _Item) -> None:
        self._queues[item.queue].remove(item.id, item.key, item.channel, item.reqs, item.priority)

    def _to_waiting(self, item: _Item, now: float, out: list[Command]) -> None:
        item.status = check_item_transition(item.status, ItemStatus.WAITING)
        self._enqueue(item, now, out)

    def _set_queue(self, item: _Item, queue: str, now: float) -> None:
        """Enter ``queue`` afresh: its overflow steps start over, the ring resets."""
        item.queue = queue
        item.enqueued_at = now
        item.step = 0
        item.version += 1
        item.reqs = item.base_reqs

    def _decline(self, item: _Item, agent_id: str, at: float) -> None:
        item.declined[agent_id] = at
        if self._decline_memory > 0:
            self._push(at + self._decline_memory, _Deadline.DECLINE, item.id)

    def _declined(self, item: _Item, agent_id: str, now: float) -> bool:
        at = item.declined.get(agent_id)
        return at is not None and now < at + self._decline_memory

    # --- overflow ---------------------------------------------------------------

    def _overflow_due(self, item: _Item, now: float, out: list[Command]) -> None:
        """Apply every step of the item's queue that is due; schedule the next."""
        while item.status is ItemStatus.WAITING:
            steps = self._steps[item.queue]
            if item.step >= len(steps):
                return
            step = steps[item.step]
            if step.after is None:
                return
            due = item.enqueued_at + step.after
            if due > now:
                self._push(due, _Deadline.OVERFLOW, item.id, item.version)
                return
            self._apply_step(item, step, now, out)

    def _apply_step(self, item: _Item, step: OverflowStep, now: float, out: list[Command]) -> None:
        item.step += 1
        item.version += 1
        item.no_agent_checked = False
        self._dirty_items.add(item.id)
        action = step.action
        if action in WIDENING:
            wider = widen(item.reqs, action, step.by)
            if wider != item.reqs:
                self._dequeue(item)
                item.reqs = wider
                self._queues[item.queue].add(item.id, item.key, item.channel, wider, item.priority)
                out.append(
                    ItemOverflowed(item.id, item.queue, None, describe(action, step.by, None))
                )
            return
        assert step.queue is not None
        if item.hops >= len(self._queues):
            return  # a cycle of moves: stay put rather than loop
        item.hops += 1
        self._hopped.append(item)
        source = item.queue
        self._dequeue(item)
        self._set_queue(item, step.queue, now)
        queue = self._queues[item.queue]
        item.key = queue.key(item.priority, item.arrived_at, item.seq)
        queue.add(item.id, item.key, item.channel, item.reqs, item.priority)
        out.append(
            ItemOverflowed(item.id, source, item.queue, describe(action, step.by, step.queue))
        )
        out.append(ItemQueued(item.id, item.queue, item.priority, "overflow"))

    def _anyone_qualifies(self, item: _Item, now: float) -> bool:
        """Is there any agent who could take this item if they had room?"""
        presences = self._presences[item.queue]
        pool: set[str] | frozenset[str] | dict[str, AgentState] = self._index.agents
        for req in item.reqs:
            s = self._index.with_skill(req.name)
            if len(s) < len(pool):
                pool = s
        for aid in pool:
            agent = self._index.agents[aid]
            if (
                agent.serves(item.queue)
                and self._presence.takes_work(aid)
                and self._presence.chosen(aid) in presences
                and satisfies(agent.skills, item.reqs)
                and item.channel in agent.capacity.accepted
                and not self._declined(item, aid, now)
            ):
                return True
        return False

    # --- offers -----------------------------------------------------------------

    def _make_offer(self, item: _Item, agent: AgentState, now: float, out: list[Command]) -> None:
        self._dequeue(item)
        item.status = check_item_transition(item.status, ItemStatus.OFFERED)
        self._offer_counter += 1
        offer = Offer(
            id=f"o-{self._offer_counter}",
            item_id=item.id,
            agent_id=agent.id,
            queue=item.queue,
            made_at=now,
            expires_at=now + self._timeouts[item.queue],
        )
        self._offers[offer.id] = offer
        item.offer = offer
        agent.offers.add(offer.id)
        agent.load.add(item.channel, agent.capacity)
        self._queues[item.queue].offered += 1
        self._rr_last[item.queue] = agent.id
        self._push(offer.expires_at, _Deadline.OFFER, offer.id)
        self._refresh(agent, out)
        out.append(OfferMade(offer.id, item.id, agent.id, item.queue, offer.expires_at))

    def _end_offer(self, offer: Offer, event: OfferEvent) -> _Item:
        state = offer.apply(event)
        del self._offers[offer.id]
        self._ended[offer.id] = state
        if len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        self._queues[offer.queue].offered -= 1
        item = self._items[offer.item_id]
        item.offer = None
        self._index.agents[offer.agent_id].offers.discard(offer.id)
        return item

    def _revoke(
        self,
        offer: Offer,
        reason: RevokeReason,
        now: float,
        out: list[Command],
        requeue: bool = True,
    ) -> None:
        item = self._end_offer(offer, OfferEvent.REVOKE)
        out.append(OfferRevoked(offer.id, item.id, offer.agent_id, reason.value))
        self._release(self._index.agents[offer.agent_id], item, out)
        if requeue:
            self._to_waiting(item, now, out)

    def _expire_offer(self, offer: Offer, at: float, out: list[Command]) -> None:
        item = self._end_offer(offer, OfferEvent.EXPIRE)
        out.append(OfferRevoked(offer.id, item.id, offer.agent_id, RevokeReason.TIMEOUT.value))
        agent = self._index.agents[offer.agent_id]
        self._release(agent, item, out)
        self._decline(item, agent.id, at)
        self._to_waiting(item, at, out)
        missed = self._presence.settings.on_offer_timeout
        if missed is not None:
            self._set_status(agent, missed, at, out)

    def _check_offer(self, e: OfferAccepted | OfferRejected, out: list[Command]) -> Offer | None:
        offer = self._offers.get(e.offer_id)
        if offer is None:
            ended = self._ended.get(e.offer_id)
            code, message = ("unknown_offer", "no such offer")
            if ended is not None:
                code, message = _STALE_CODES[ended]
            out.append(Rejected(e, code, f"{message}: {e.offer_id!r}"))
            return None
        if offer.agent_id != e.agent_id:
            out.append(Rejected(e, "wrong_agent", f"offer {offer.id!r} was made to another agent"))
            return None
        return offer

    def _on_offer_accepted(self, e: OfferAccepted, now: float, out: list[Command]) -> None:
        offer = self._check_offer(e, out)
        if offer is not None:
            self._accept(offer, now, out)

    def _accept(self, offer: Offer, now: float, out: list[Command]) -> None:
        item = self._end_offer(offer, OfferEvent.ACCEPT)
        agent = self._index.agents[offer.agent_id]
        # The offer's reservation becomes the assignment: load is unchanged.
        self._assign(item, agent, offer.id, now, out)

    def _assign(
        self, item: _Item, agent: AgentState, offer_id: str | None, now: float, out: list[Command]
    ) -> None:
        item.status = check_item_transition(item.status, ItemStatus.ASSIGNED)
        item.agent_id = agent.id
        agent.assigned.add(item.id)
        self._index.set_last_assigned(agent, now)
        self._refresh(agent, out)
        out.append(ItemAssigned(item.id, agent.id, offer_id))

    def _on_offer_rejected(self, e: OfferRejected, now: float, out: list[Command]) -> None:
        offer = self._check_offer(e, out)
        if offer is None:
            return
        item = self._end_offer(offer, OfferEvent.REJECT)
        agent = self._index.agents[offer.agent_id]
        self._release(agent, item, out)
        self._decline(item, agent.id, now)
        self._to_waiting(item, now, out)

    def _release(self, agent: AgentState, item: _Item, out: list[Command]) -> None:
        """Give back the capacity ``item`` held on ``agent`` (offer or assignment)."""
        agent.load.remove(item.channel, agent.capacity)
        agent.assigned.discard(item.id)
        agent.overcommit.discard(item.id)
        self._refresh(agent, out)

    # --- matching ---------------------------------------------------------------

    def _settle(self, now: float, out: list[Command]) -> None:
        while self._dirty_agents or self._dirty_items:
            self._overflow_unqualified(now, out)
            agents = sorted(self._dirty_agents)
            self._dirty_agents.clear()
            for aid in agents:
                self._fill_agent(aid, now, out)
            items = [
                it
                for i in self._dirty_items
                if (it := self._items.get(i)) is not None and it.status is ItemStatus.WAITING
            ]
            self._dirty_items.clear()
            items.sort(
                key=lambda it: self._queues[it.queue].effective_key(it.key, it.priority, now)
            )
            for item in items:
                if item.status is ItemStatus.WAITING:
                    self._place(item, now, out)
        for item in self._hopped:
            item.hops = 0
        self._hopped.clear()

    def _fill_agent(self, agent_id: str, now: float, out: list[Command]) -> None:
        """Offer a freed agent the best waiting work they can take, while they have room."""
        agent = self._index.get(agent_id)
        while agent is not None and agent.ready_on:
            item = self._best_item_for(agent, now)
            if item is None:
                return
            self._make_offer(item, agent, now, out)

    def _best_item_for(self, agent: AgentState, now: float) -> _Item | None:
        status = self._presence.chosen(agent.id)
        items = self._items

        def item_ok(item_id: str) -> bool:
            return not self._declined(items[item_id], agent.id, now)

        names: Iterable[str] = self._queues if agent.queues is None else sorted(agent.queues)
        best: _Item | None = None
        best_key: SortKey | None = None
        for name in names:
            queue = self._queues[name]
            if not len(queue) or status not in self._presences[name]:
                continue
            found = queue.best(agent.skills, agent.ready_on, item_ok)
            if found is None:
                continue
            item = items[found[1]]
            key = queue.effective_key(found[0], item.priority, now)
            if best_key is None or key < best_key:
                best, best_key = item, key
        return best

    def _candidates(self, item: _Item, now: float) -> Iterable[AgentState]:
        ready = self._index.ready[item.channel]
        if not ready:
            return
        pool: set[str] | frozenset[str] = ready
        for req in item.reqs:
            s = self._index.with_skill(req.name)
            if len(s) < len(pool):
                pool = s
        agents = self._index.agents
        for aid in pool:
            if aid in ready and self._eligible(agents[aid], item, now):
                yield agents[aid]

    def _eligible(self, agent: AgentState, item: _Item, now: float) -> bool:
        """Eligible for ``item``, given the agent is ready on its channel."""
        return (
            agent.serves(item.queue)
            and self._presence.chosen(agent.id) in self._presences[item.queue]
            and satisfies(agent.skills, item.reqs)
            and not self._declined(item, agent.id, now)
        )

    def _longest_idle(self, item: _Item, now: float) -> AgentState | None:
        """Longest-idle, exact: walk agents in idle order, stop at the first eligible.

        Gives the same agent as ``choose`` (key: last assignment, then id); it
        wins when many agents are ready, where scoring them all would not.
        """
        ready = self._index.ready[item.channel]
        rarest = min(item.reqs, key=lambda r: len(self._index.with_skill(r.name)), default=None)
        agents = self._index.agents
        order = self._index.idle_order_for(rarest.name if rarest else None)
        for _, aid in order:
            if aid in ready and self._eligible(agents[aid], item, now):
                return agents[aid]
        return None

    def _place(self, item: _Item, now: float, out: list[Command]) -> None:
        """Offer a waiting item to the best ready agent, if there is one."""
        name = item.queue
        if (
            self._methods[name] is Method.LONGEST_IDLE
            and self._match[name] is MatchMode.EXACT
            and len(self._index.ready[item.channel]) > _SCAN_READY
        ):
            chosen = self._longest_idle(item, now)
            if chosen is not None:
                self._make_offer(item, chosen, now, out)
            return
        agent = choose(
            self._candidates(item, now),
            self._methods[name],
            self._match[name],
            item.channel,
            item.reqs,
            self._rr_last[name] if self._methods[name] is Method.ROUND_ROBIN else None,
        )
        if agent is not None:
            self._make_offer(item, agent, now, out)

    def _overflow_unqualified(self, now: float, out: list[Command]) -> None:
        """Apply ``if_no_agent`` steps to dirty items nobody could ever take.

        Runs before any agent is filled, so an item that moves queue this way
        is in its final place when agents pick the head of the line.
        """
        for item_id in sorted(self._dirty_items):
            item = self._items.get(item_id)
            while item is not None and item.status is ItemStatus.WAITING:
                if item.no_agent_checked:
                    break
                item.no_agent_checked = True
                steps = self._steps[item.queue]
                if (
                    item.step < len(steps)
                    and steps[item.step].if_no_agent
                    and not self._anyone_qualifies(item, now)
                ):
                    self._apply_step(item, steps[item.step], now, out)
                    self._overflow_due(item, now, out)


__all__ = ["Router"]
