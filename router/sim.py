"""A seeded, deterministic simulator that drives the real Router.

Like TigerBeetle's VOPR: one ``random.Random(seed)`` decides every event
(arrivals, presence changes, accepts, rejects, timeouts, stale accepts,
disconnects, reconnects, closes, cancels, transfers, priority changes, manual
assignments, agent edits) and injected time; after every event the invariants
are checked against the simulator's own ledger of open items and offers. The
same seed replays the same run exactly, so a failure is reported with its
seed and event number.

    python -m router.sim --events 1000000 --seed 7
"""

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from router.config import RoutingConfig
from router.core import Router
from router.errors import InvariantViolation
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
    ItemRequeued,
    ManualAssign,
    OfferAccepted,
    OfferMade,
    OfferRejected,
    OfferRevoked,
    PresenceChanged,
    PriorityChanged,
    Rejected,
    Tick,
    Transferred,
)
from router.invariants import check_invariants
from router.items import CHANNELS, SkillRequirement, WorkItem

SKILLS = ("billing", "tech", "sales", "spanish", "english", "german")
QUEUES = ("general", "billing", "tech", "vip", "bot")
STATUSES = ("available", "available", "available", "busy", "away", "offline", "lunch", "backoffice")


def sim_config(rng: random.Random) -> RoutingConfig:
    """A busy config; a few knobs vary by seed so runs cover more paths."""
    return RoutingConfig.from_mapping(
        {
            "skills": list(SKILLS),
            "default_queue": "general",
            "queues": {
                "general": {"method": "longest-idle"},
                "billing": {
                    "method": "most-skilled",
                    "match": "closest",
                    "overflow": [
                        {"after": 20, "action": "lower_proficiency", "by": 1},
                        {"after": 40, "action": "drop_optional"},
                        {"after": 60, "action": "move", "queue": "general"},
                    ],
                },
                "tech": {
                    "method": "round-robin",
                    "offer_timeout": 15,
                    "overflow": [
                        {"if_no_agent": True, "action": "lower_proficiency", "by": 2},
                        {"after": 30, "if_no_agent": True, "action": "bot", "queue": "bot"},
                    ],
                },
                "vip": {
                    "method": "highest-capacity",
                    "presences": ["available", "backoffice"],
                    "aging": 0,
                },
                "bot": {"method": "longest-idle"},
            },
            "capacity": {
                "standard": {"other": 3},
                "units": {"units": 100, "costs": dict.fromkeys(CHANNELS, 30) | {"email": 10}},
                "mail": {"channels": {"email": 6, "webchat": 1}},
            },
            "intake": [
                {
                    "name": "vip",
                    "when": 'customer.tier == "gold"',
                    "queue": "vip",
                    "priority": 10,
                },
                {
                    "name": "billing words",
                    "when": 'message contains "invoice" or prechat.topic == "billing"',
                    "queue": "billing",
                    "skills": {"billing": 3},
                    "optional_skills": {"spanish": 2},
                },
                {
                    "name": "tech",
                    "when": 'prechat.topic == "tech" and not (channel in ["email"])',
                    "queue": "tech",
                    "skills": {"tech": 4},
                },
                {"name": "german", "when": 'language == "de"', "skills": {"german": 1}},
            ],
            "offers": {
                "per_agent": rng.choice([1, 1, 2]),
                "decline_memory": rng.choice([0, 30, 120]),
            },
            "aging": {"seconds_per_level": rng.choice([0, 30, 60])},
            "presence": {
                "statuses": [
                    {"name": "lunch", "accepts_work": False},
                    {"name": "backoffice", "accepts_work": True},
                ],
                "grace": rng.choice([0, 10, 30]),
                "busy_at_capacity": rng.random() < 0.5,
                "on_offer_timeout": rng.choice([None, None, "away"]),
            },
        }
    )


@dataclass
class Stats:
    events: int = 0
    offers: int = 0
    assigned: int = 0
    revoked: int = 0
    rejected: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Simulation:
    """One seeded run. ``step()`` makes, applies and checks one event."""

    def __init__(self, seed: int, agents: int = 24, deep_every: int = 1) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.router = Router(sim_config(self.rng))
        self.now = 0.0
        self.deep_every = deep_every
        self.stats = Stats()
        self.open: set[str] = set()
        self.offers: dict[str, OfferMade] = {}  # open, as seen from the commands
        self.ended_offers: list[str] = []
        self.assigned: dict[str, str] = {}  # item -> agent
        self.connected: dict[str, int] = {}
        self.agent_ids = [f"a{i:03d}" for i in range(agents)]
        self.removed: set[str] = set()
        self.next_item = 0
        for aid in self.agent_ids:
            self._apply(self._upsert(aid))
            self._apply(AgentConnected(aid))
            self.connected[aid] = 1

    # --- event makers -----------------------------------------------------------

    def _upsert(self, aid: str) -> AgentUpserted:
        rng = self.rng
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(1, 4))}
        queues = None if rng.random() < 0.5 else frozenset(rng.sample(QUEUES, rng.randint(1, 3)))
        capacity = rng.choice([None, "standard", "units", "mail"])
        return AgentUpserted(aid, aid.upper(), skills, capacity, queues)

    def _arrival(self) -> ItemArrived:
        rng = self.rng
        self.next_item += 1
        attrs = {
            "customer": {"tier": rng.choice(["gold", "silver", "bronze", None])},
            "prechat": {"topic": rng.choice(["billing", "tech", "other"])},
            "message": rng.choice(["hello", "my INVOICE is wrong", "it crashed", ""]),
        }
        skills: tuple[SkillRequirement, ...] = ()
        if rng.random() < 0.2:
            skills = (SkillRequirement(rng.choice(SKILLS), rng.randint(1, 5), rng.random() < 0.5),)
        queue = rng.choice(QUEUES) if rng.random() < 0.1 else None
        item = WorkItem(
            id=f"c{self.next_item}",
            channel=rng.choice(CHANNELS),
            arrived_at=self.now,
            queue=queue,
            skills=skills,
            priority=rng.choice([0, 0, 0, 1, 5]),
            language=rng.choice(["en", "es", "de"]),
            attributes=attrs,
        )
        return ItemArrived(item)

    def next_event(self) -> Event:
        rng = self.rng
        r = rng.random()
        load = len(self.open)
        offers = sorted(self.offers)
        assigned = sorted(self.assigned)
        agents = self.agent_ids
        if r < 0.22 and load < 120:
            return self._arrival()
        if r < 0.40 and offers:
            o = self.offers[rng.choice(offers)]
            return OfferAccepted(o.offer_id, o.agent_id)
        if r < 0.45 and offers:
            o = self.offers[rng.choice(offers)]
            return OfferRejected(o.offer_id, o.agent_id, "busy")
        if r < 0.47 and self.ended_offers:
            oid = rng.choice(self.ended_offers[-50:])
            return OfferAccepted(oid, rng.choice(agents))
        if r < 0.62 and assigned:
            return ItemClosed(rng.choice(assigned))
        if r < 0.66 and self.open:
            return ItemCancelled(rng.choice(sorted(self.open)))
        if r < 0.70 and assigned:
            iid = rng.choice(assigned)
            return Transferred(iid, self.assigned[iid], rng.choice(QUEUES), "please help")
        if r < 0.72 and self.open:
            iid = rng.choice(sorted(self.open))
            queue = rng.choice(QUEUES) if rng.random() < 0.3 else None
            return PriorityChanged(iid, rng.randint(0, 10), queue)
        if r < 0.74 and self.open:
            return ManualAssign(
                rng.choice(sorted(self.open)), rng.choice(agents), rng.random() < 0.3
            )
        if r < 0.75 and assigned:
            return ItemRequeued(rng.choice(assigned), "handing back")
        if r < 0.83:
            return PresenceChanged(rng.choice(agents), rng.choice(STATUSES))
        if r < 0.87:
            aid = rng.choice(agents)
            if self.connected.get(aid, 0) and rng.random() < 0.6:
                return AgentDisconnected(aid)
            return AgentConnected(aid)
        if r < 0.875:
            aid = rng.choice(agents)
            if aid in self.removed or rng.random() < 0.7:
                return self._upsert(aid)
            return AgentRemoved(aid)
        if r < 0.88:
            return ItemClosed("nope")
        deadline = self.router.next_deadline()
        if deadline is not None and rng.random() < 0.7:
            self.now = max(self.now, deadline)
        return Tick()

    # --- applying and checking ----------------------------------------------------

    def _apply(self, event: Event) -> list[Command]:
        cmds = self.router.handle(event, self.now)
        self._observe(event, cmds)
        return cmds

    def _observe(self, event: Event, cmds: list[Command]) -> None:
        s = self.stats
        s.events += 1
        kind = type(event).__name__
        s.kinds[kind] = s.kinds.get(kind, 0) + 1
        rejected = any(isinstance(c, Rejected) for c in cmds)
        if isinstance(event, ItemArrived) and not rejected:
            self.open.add(event.item.id)
        elif isinstance(event, ItemClosed | ItemCancelled) and not rejected:
            self.open.discard(event.item_id)
            self.assigned.pop(event.item_id, None)
        elif isinstance(event, AgentRemoved) and not rejected:
            self.removed.add(event.agent_id)
            self.connected[event.agent_id] = 0
        elif isinstance(event, AgentUpserted) and not rejected and event.agent_id in self.removed:
            self.removed.discard(event.agent_id)
        elif isinstance(event, AgentConnected) and not rejected:
            self.connected[event.agent_id] = self.connected.get(event.agent_id, 0) + 1
        elif isinstance(event, AgentDisconnected) and not rejected:
            self.connected[event.agent_id] = max(0, self.connected.get(event.agent_id, 0) - 1)
        if isinstance(event, Transferred | ItemRequeued) and not rejected:
            self.assigned.pop(event.item_id, None)
        if isinstance(event, AgentRemoved) and not rejected:
            for iid, aid in list(self.assigned.items()):
                if aid == event.agent_id:
                    del self.assigned[iid]
        if isinstance(event, OfferAccepted):
            self._check_accept(event, cmds)
        for cmd in cmds:
            if isinstance(cmd, OfferMade):
                s.offers += 1
                if cmd.offer_id in self.offers or cmd.item_id not in self.open:
                    raise InvariantViolation([f"bad offer command {cmd}"])
                self.offers[cmd.offer_id] = cmd
            elif isinstance(cmd, OfferRevoked):
                s.revoked += 1
                self._end(cmd.offer_id)
            elif isinstance(cmd, ItemAssigned):
                s.assigned += 1
                if cmd.offer_id is not None:
                    self._end(cmd.offer_id)
                self.assigned[cmd.item_id] = cmd.agent_id
            elif isinstance(cmd, Rejected):
                s.rejected += 1
        if isinstance(event, OfferRejected) and not rejected:
            self._end(event.offer_id)
        for oid, o in self.offers.items():
            if o.item_id not in self.open:
                raise InvariantViolation([f"offer {oid} for closed item was not revoked"])

    def _end(self, offer_id: str) -> None:
        if self.offers.pop(offer_id, None) is None:
            raise InvariantViolation([f"offer {offer_id} ended twice or was never made"])
        self.ended_offers.append(offer_id)
        if len(self.ended_offers) > 200:
            del self.ended_offers[:100]

    def _check_accept(self, event: OfferAccepted, cmds: list[Command]) -> None:
        seen = self.offers.get(event.offer_id)
        assigned = [c for c in cmds if isinstance(c, ItemAssigned) and c.offer_id == event.offer_id]
        if seen is None or seen.agent_id != event.agent_id:
            if assigned:
                raise InvariantViolation([f"stale or foreign accept assigned: {event}"])
            if not any(isinstance(c, Rejected) and c.event is event for c in cmds):
                raise InvariantViolation([f"stale accept not rejected: {event}"])
        elif seen.expires_at > self.now and not assigned:
            revoked = any(isinstance(c, OfferRevoked) and c.offer_id == seen.offer_id for c in cmds)
            if not revoked:
                raise InvariantViolation([f"live offer accepted but not assigned: {event}"])

    def step(self) -> None:
        event = self.next_event()
        self.now += self.rng.expovariate(2.0)
        cmds = self._apply(event)
        deep = self.stats.events % self.deep_every == 0
        try:
            check_invariants(self.router, self.now, commands=cmds, open_items=self.open, deep=deep)
        except InvariantViolation as exc:
            exc.add_note(f"seed {self.seed}, event {self.stats.events}: {event!r}")
            raise

    def run(self, events: int, progress: Callable[[int], None] | None = None) -> Stats:
        for i in range(events):
            self.step()
            if progress is not None and (i + 1) % 100_000 == 0:
                progress(i + 1)
        return self.stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--agents", type=int, default=24)
    parser.add_argument(
        "--deep-every", type=int, default=1, help="check work conservation every N events"
    )
    args = parser.parse_args(argv)
    sim = Simulation(args.seed, args.agents, args.deep_every)
    start = time.perf_counter()

    def progress(n: int) -> None:
        rate = n / (time.perf_counter() - start)
        print(f"  {n:>9,} events  {rate:,.0f} events/s  open={len(sim.open)}", flush=True)

    try:
        stats = sim.run(args.events, progress)
    except InvariantViolation as exc:
        print(f"INVARIANT VIOLATED (seed {args.seed}): {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(f"  {note}", file=sys.stderr)
        print(
            f"replay: python -m router.sim --seed {args.seed} --events {sim.stats.events}",
            file=sys.stderr,
        )
        return 1
    elapsed = time.perf_counter() - start
    print(
        f"seed {args.seed}: {stats.events:,} events in {elapsed:.1f} s"
        f" ({stats.events / elapsed:,.0f}/s); offers {stats.offers:,}, assigned"
        f" {stats.assigned:,}, revoked {stats.revoked:,}, rejected {stats.rejected:,};"
        " invariants held after every event"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
