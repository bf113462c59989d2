"""The router's invariants, as a function that checks a live router.

Checked from scratch, without trusting the router's indexes:

1. Capacity: no agent holds more than their capacity (assigned + offered),
   except what a forced manual assignment or a capacity cut put there.
2. Presence: every offer made in the last step went to a connected agent in
   a status the queue takes work from.
3. Exclusivity: an item is in exactly one place: one queue, one open offer,
   or one agent's assigned set; never two.
4. Nothing lost: every open item is somewhere; with ``open_items`` (the
   caller's own ledger of arrived minus closed/cancelled) the sets match.
5. FIFO: an offer made in the last step never skipped an earlier item of the
   same queue and priority that the same agent could have taken instead.
6. Work conservation (``deep``): no waiting item has an agent who is ready
   and eligible for it, i.e. nobody idles while work they could do waits.
"""

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from router.agents import AgentState
from router.capacity import Load
from router.errors import InvariantViolation
from router.events import Command, OfferMade
from router.items import Channel, ItemStatus
from router.offers import Offer, OfferState
from router.queues import SortKey
from router.skills import Requirements, satisfies

if TYPE_CHECKING:
    from router.core import Router, _Item


def could_take(
    router: "Router",
    agent: "AgentState",
    item: "_Item",
    now: float,
    ignoring: Offer | None = None,
) -> bool:
    """Whether routing may offer ``item`` to ``agent`` now, computed from scratch.

    ``ignoring`` pretends that one open offer of the agent does not exist.
    """
    presence = router._presence
    if not (agent.serves(item.queue) and presence.takes_work(agent.id)):
        return False
    if presence.chosen(agent.id) not in router._presences[item.queue]:
        return False
    if not satisfies(agent.skills, item.reqs) or router._declined(item, agent.id, now):
        return False
    offers = [router._offers[o] for o in agent.offers if ignoring is None or o != ignoring.id]
    if len(offers) >= router._offer_limit:
        return False
    load = Load()
    for item_id in agent.assigned:
        load.add(router._items[item_id].channel, agent.capacity)
    for offer in offers:
        load.add(router._items[offer.item_id].channel, agent.capacity)
    return agent.capacity.can_take(load, item.channel)


def _idle_while_waiting(
    router: "Router", now: float, waiting: dict[str, list[tuple[SortKey, str]]]
) -> list[str]:
    """Work conservation, from scratch: agents with room vs waiting items."""
    presence = router._presence
    free: list[tuple[AgentState, str, Load]] = []
    for agent in router._index.agents.values():
        if not presence.takes_work(agent.id) or len(agent.offers) >= router._offer_limit:
            continue
        load = Load()
        for item_id in agent.assigned:
            load.add(router._items[item_id].channel, agent.capacity)
        for offer_id in agent.offers:
            load.add(router._items[router._offers[offer_id].item_id].channel, agent.capacity)
        free.append((agent, presence.chosen(agent.id), load))
    problems = []
    for name, entries in waiting.items():
        presences = router._presences[name]
        able = [(a, load) for a, status, load in free if status in presences and a.serves(name)]
        # Items with the same channel and needs have the same able agents.
        groups: dict[tuple[Channel, Requirements], list[str]] = {}
        for _, item_id in entries:
            item = router._items[item_id]
            groups.setdefault((item.channel, item.reqs), []).append(item_id)
        for (channel, reqs), item_ids in groups.items():
            fits = [
                a
                for a, load in able
                if satisfies(a.skills, reqs) and a.capacity.can_take(load, channel)
            ]
            for item_id in item_ids if fits else ():
                item = router._items[item_id]
                idle = next((a for a in fits if not router._declined(item, a.id, now)), None)
                if idle is not None:
                    problems.append(f"{idle.id} idles while {item_id} in {name} waits")
    return problems


def check_invariants(
    router: "Router",
    now: float,
    *,
    commands: Iterable[Command] = (),
    open_items: Collection[str] | None = None,
    deep: bool = True,
) -> None:
    """Raise ``InvariantViolation`` listing every broken invariant.

    Args:
        router: the router to inspect.
        now: the time of the last ``handle`` call.
        commands: what that call returned (for the per-offer checks).
        open_items: the caller's ledger of items that must be open.
        deep: also check work conservation (quadratic; for small routers).
    """
    problems: list[str] = []
    items = router._items
    agents = router._index.agents
    where: dict[str, str] = {}

    def place(item_id: str, spot: str) -> None:
        if item_id in where:
            problems.append(f"item {item_id} is in two places: {where[item_id]} and {spot}")
        where[item_id] = spot

    waiting = {name: queue.waiting() for name, queue in router._queues.items()}
    for name, entries in waiting.items():
        for key, item_id in entries:
            place(item_id, f"queue {name}")
            it = items.get(item_id)
            if it is None:
                problems.append(f"queue {name} holds {item_id}, which is not open")
            elif it.status is not ItemStatus.WAITING or it.queue != name or it.key != key:
                problems.append(f"item {item_id} waits in {name} but is {it.status} in {it.queue}")
    for offer_id, offer in router._offers.items():
        place(offer.item_id, f"offer {offer_id}")
        it = items.get(offer.item_id)
        if offer.state is not OfferState.PENDING:
            problems.append(f"offer {offer_id} is open but {offer.state}")
        if it is None or it.status is not ItemStatus.OFFERED or it.offer is not offer:
            problems.append(f"offer {offer_id} is open but item {offer.item_id} disagrees")
        agent = agents.get(offer.agent_id)
        if agent is None or offer_id not in agent.offers:
            problems.append(f"offer {offer_id} is open but agent {offer.agent_id} lacks it")
    for agent_id, agent in agents.items():
        load, routed = Load(), Load()
        for item_id in agent.assigned:
            place(item_id, f"agent {agent_id}")
            it = items.get(item_id)
            if it is None or it.status is not ItemStatus.ASSIGNED or it.agent_id != agent_id:
                problems.append(f"agent {agent_id} holds {item_id}, which is not assigned to them")
                continue
            load.add(it.channel, agent.capacity)
            if item_id not in agent.overcommit:
                routed.add(it.channel, agent.capacity)
        for offer_id in agent.offers:
            open_offer = router._offers.get(offer_id)
            if open_offer is None:
                problems.append(f"agent {agent_id} lists closed offer {offer_id}")
                continue
            channel = items[open_offer.item_id].channel
            load.add(channel, agent.capacity)
            routed.add(channel, agent.capacity)
        counts = {ch: n for ch, n in agent.load.counts.items() if n}
        if (
            counts != {ch: n for ch, n in load.counts.items() if n}
            or agent.load.units != load.units
        ):
            problems.append(f"agent {agent_id}: tracked load {agent.load} != actual {load}")
        if not agent.capacity.within(routed):
            problems.append(f"agent {agent_id} is above capacity: {routed}")
        if len(agent.offers) > router._offer_limit:
            problems.append(f"agent {agent_id} has {len(agent.offers)} open offers")
        for ch, ready in router._index.ready.items():
            if (agent_id in ready) != (ch in agent.ready_on):
                problems.append(f"agent {agent_id}: ready index for {ch} is stale")
    for item_id, it in items.items():
        if item_id not in where:
            problems.append(f"item {item_id} ({it.status}) is lost: in no queue, offer or agent")
    if open_items is not None:
        missing = set(open_items) - set(items)
        extra = set(items) - set(open_items)
        if missing:
            problems.append(f"items arrived but not open: {sorted(missing)[:5]}")
        if extra:
            problems.append(f"items open but not expected: {sorted(extra)[:5]}")

    for cmd in commands:
        if not isinstance(cmd, OfferMade) or cmd.offer_id not in router._offers:
            continue
        offer = router._offers[cmd.offer_id]
        agent = agents[offer.agent_id]
        status = router._presence.chosen(agent.id)
        if (
            not router._presence.takes_work(agent.id)
            or status not in router._presences[offer.queue]
        ):
            problems.append(f"offer {offer.id} went to {agent.id}, who is {status} / not connected")
        made = items[offer.item_id]
        for _, other_id in waiting[made.queue]:
            other = items[other_id]
            if (other.arrived_at, other.seq) >= (made.arrived_at, made.seq):
                continue
            if other.priority == made.priority and could_take(router, agent, other, now, offer):
                problems.append(
                    f"FIFO: offer {offer.id} gave {made.id} to {agent.id}"
                    f" while earlier {other.id} of the same priority waited"
                )

    if deep:
        problems.extend(_idle_while_waiting(router, now, waiting))
    if problems:
        raise InvariantViolation(problems)
