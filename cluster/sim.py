"""A seeded simulator of the cluster protocol, driving the real Router.

Like TigerBeetle's VOPR: one ``random.Random(seed)`` decides everything
(arrivals, accepts, rejects, closes, agent reconnects, node crashes and
restarts, process pauses longer than the lease, partitions from Redis) and
time advances in fixed steps. The pieces are the protocol's, in memory:

* "Redis": the ``Lease`` (fencing tokens), the ordered log, the router's
  committed position, node heartbeats, and each node's agent connection
  counts, written atomically with the log entry that changes them.
* "the store": conversation status and owner, and the ``Fence``: it admits
  a router's command only with the current token.
* nodes: each appends the inputs of its agents and customers to the log;
  the lease holder runs a ``router.Router``, rebuilt on takeover from the
  store, the connection snapshot and the log's tail, exactly as
  ``gateway/routing.py`` does.

After every step it checks: at most one router per fencing token; the
store never admits a stale token's command; no conversation has two owners
and no agent is over capacity in the store; and at the end of a quiet phase
(no faults) every input appended to the log was applied and every
conversation that arrived was assigned and closed. The same seed replays
the same run (``Run.digest``), so a failure names its seed.

    python -m cluster.sim --runs 200 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from collections import Counter
from dataclasses import dataclass, field

import router as r
from cluster.lease import Fence, Grant, Lease
from cluster.membership import Membership
from cluster.offers import OfferIds

CAPACITY = 2


class Violation(AssertionError):
    """An invariant broke; the message names seed, time and what."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    nodes: int = 3
    agents: int = 4
    ttl: float = 3.0
    """Lease TTL; the holder renews every ``ttl / 3``."""
    node_timeout: float = 3.0
    offer_timeout: float = 2.0
    step: float = 0.1
    faulty: float = 120.0
    """Seconds with faults; then a quiet phase until everything is closed."""
    quiet: float = 300.0
    arrivals: float = 0.6
    """Mean arrivals per second."""
    crash: float = 0.004
    pause: float = 0.004
    partition: float = 0.004
    fencing: bool = True
    """False: the store admits any token (to show the checks catch it)."""


# --- the shared parts -------------------------------------------------------------


class Redis:
    def __init__(self, cfg: SimConfig) -> None:
        self.lease = Lease(cfg.ttl)
        self.log: list[tuple[str, tuple[r.Event, ...]]] = []
        self.position = 0
        self.beats: dict[str, float] = {}
        self.conns: dict[str, Counter[str]] = {}
        self.chosen: dict[str, str] = {}
        """Each agent's last chosen status, in log order (not per node)."""
        self.grants: dict[int, str] = {}

    def append(self, node: str, events: tuple[r.Event, ...]) -> bool:
        """XADD and the node's connection counts, atomically; refused for a
        node that is not a member (never joined, or evicted)."""
        if node not in self.beats:
            return False
        self.log.append((node, events))
        counts = self.conns.setdefault(node, Counter())
        for e in events:
            if isinstance(e, r.AgentConnected):
                counts[e.agent_id] += 1
            elif isinstance(e, r.AgentDisconnected) and counts[e.agent_id] > 0:
                counts[e.agent_id] -= 1
            elif isinstance(e, r.PresenceChanged):
                self.chosen[e.agent_id] = e.status
        return True

    def commit(self, node: str, token: int, position: int, now: float) -> bool:
        grant = self.lease.holder(now)
        if grant is None or grant.node != node or grant.token != token:
            return False
        self.position = max(self.position, position)
        return True


@dataclass
class Row:
    status: str = "queued"
    owner: str | None = None
    offered_to: str | None = None
    arrived_at: float = 0.0
    ever_assigned: bool = False


class Store:
    def __init__(self, fencing: bool) -> None:
        self.fence = Fence()
        self.fencing = fencing
        self.rows: dict[str, Row] = {}
        self.admitted: list[tuple[float, int, str, str, str]] = []
        self.by_token: dict[int, set[str]] = {}
        self.refused = 0

    def _admit(self, node: str, token: int, now: float, what: str, item: str, who: str) -> bool:
        if self.fencing and not self.fence.admits(token):
            self.refused += 1
            return False
        self.admitted.append((now, token, what, item, who))
        self.by_token.setdefault(token, set()).add(node)
        return True

    def offer(self, node: str, token: int, now: float, item: str, agent: str) -> bool | None:
        """True: stored; False: stale token; None: the conversation moved on."""
        row = self.rows.get(item)
        if row is None or row.status not in ("queued", "offered"):
            return None
        if not self._admit(node, token, now, "offer", item, agent):
            return False
        row.status, row.offered_to = "offered", agent
        return True

    def requeue(self, node: str, token: int, now: float, item: str) -> bool | None:
        row = self.rows.get(item)
        if row is None or row.status != "offered":
            return None
        if not self._admit(node, token, now, "requeue", item, ""):
            return False
        row.status, row.offered_to = "queued", None
        return True

    def assign(self, node: str, token: int, now: float, item: str, agent: str) -> bool | None:
        row = self.rows.get(item)
        if row is None or row.status not in ("queued", "offered"):
            return None
        if not self._admit(node, token, now, "assign", item, agent):
            return False
        row.status, row.owner, row.offered_to, row.ever_assigned = "assigned", agent, None, True
        return True


# --- nodes --------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    incarnation: int = 0
    up: bool = True
    paused_until: float = 0.0
    partitioned_until: float = 0.0
    joined: bool = False
    grant: Grant | None = None
    believed_until: float = 0.0
    next_renew: float = 0.0
    router: r.Router | None = None
    ids: OfferIds = field(default_factory=lambda: OfferIds(0))
    position: int = 0
    pending: list[r.Command] = field(default_factory=list)
    pending_events: list[r.Event] = field(default_factory=list)
    membership: Membership | None = None

    @property
    def id(self) -> str:
        return f"{self.name}#{self.incarnation}"


@dataclass
class Agent:
    id: str
    node: int | None
    reconnect_at: float = 0.0
    status: str = "available"
    offers: dict[str, float] = field(default_factory=dict)
    """Offer id -> when the agent answers it."""
    closes: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    seed: int
    digest: str
    arrived: int
    closed: int
    failovers: int
    refused: int
    log_entries: int


class Simulation:
    def __init__(self, seed: int, cfg: SimConfig | None = None) -> None:
        self.seed = seed
        self.cfg = cfg or SimConfig()
        self.rng = random.Random(seed)
        self.redis = Redis(self.cfg)
        self.store = Store(self.cfg.fencing)
        self.nodes = [Node(f"n{i}") for i in range(self.cfg.nodes)]
        self.agents = [Agent(f"a{i}", None) for i in range(self.cfg.agents)]
        self.routing = r.RoutingConfig.from_mapping(
            {
                "queues": {"default": {"offer_timeout": self.cfg.offer_timeout}},
                "capacity": {"standard": {"channels": {"webchat": CAPACITY}}},
                "offers": {"decline_memory": 10.0},
            }
        )
        self.now = 0.0
        self.items = 0
        self.failovers = 0
        self.trace = hashlib.sha256()
        self._checked = 0

    # -- faults --------------------------------------------------------------------

    def _fail(self, what: str) -> None:
        raise Violation(f"seed {self.seed} at t={self.now:.1f}: {what}")

    def _faults(self) -> None:
        cfg, rng = self.cfg, self.rng
        for node in self.nodes:
            roll = rng.random()
            if not node.up:
                if roll < 0.05:
                    node.up, node.incarnation, node.joined = True, node.incarnation + 1, False
                continue
            if roll < cfg.crash:
                self._crash(node)
            elif roll < cfg.crash + cfg.pause:
                node.paused_until = self.now + rng.uniform(0.5, 2.5) * cfg.ttl
            elif roll < cfg.crash + cfg.pause + cfg.partition:
                node.partitioned_until = self.now + rng.uniform(0.5, 2.5) * cfg.ttl

    def _crash(self, node: Node) -> None:
        index = self.nodes.index(node)
        node.up, node.grant, node.router, node.pending, node.pending_events = (
            False,
            None,
            None,
            [],
            [],
        )
        node.paused_until = node.partitioned_until = 0.0
        for agent in self.agents:
            if agent.node == index:
                agent.node, agent.reconnect_at = None, self.now + self.rng.uniform(0.5, 3.0)
                agent.offers.clear()

    # -- the nodes' work ---------------------------------------------------------------

    def _reaches(self, node: Node) -> bool:
        return node.up and self.now >= node.paused_until and self.now >= node.partitioned_until

    def _append(self, node: Node, *events: r.Event) -> bool:
        if not self._reaches(node) or not node.joined:
            return False
        return self.redis.append(node.id, events)

    def _beat(self, node: Node) -> None:
        if node.joined and node.id not in self.redis.beats:
            # Evicted while away: its agents' connections were dropped; they
            # connect afresh (the real node closes their sockets with 1012).
            index = self.nodes.index(node)
            for agent in self.agents:
                if agent.node == index:
                    agent.node, agent.reconnect_at = None, self.now + 0.5
                    agent.offers.clear()
            node.joined = False
            self._step_down(node)
            return
        self.redis.beats[node.id] = self.now
        node.joined = True

    def _step_down(self, node: Node) -> None:
        node.grant, node.router, node.pending, node.pending_events = None, None, [], []

    def _lease(self, node: Node) -> None:
        lease = self.redis.lease
        if node.grant is not None:
            if self.now >= node.next_renew:
                renewed = lease.renew(node.id, node.grant.token, self.now)
                if renewed is None:
                    self._step_down(node)
                    return
                node.grant, node.next_renew = renewed, self.now + self.cfg.ttl / 3
                node.believed_until = self.now + self.cfg.ttl
            return
        grant = lease.acquire(node.id, self.now)
        if grant is None:
            return
        if grant.token in self.redis.grants:
            self._fail(f"token {grant.token} granted twice")
        self.redis.grants[grant.token] = node.id
        if not self.store.fence.raise_to(grant.token):
            return
        node.grant, node.next_renew = grant, self.now + self.cfg.ttl / 3
        node.believed_until = self.now + self.cfg.ttl
        self._rebuild(node, grant)

    def _rebuild(self, node: Node, grant: Grant) -> None:
        """The store, plus the connections and chosen statuses as of log
        position P (written atomically with the log), then the log from P."""
        self.failovers += 1
        redis = self.redis
        membership = Membership(self.cfg.node_timeout)
        for member, seen in redis.beats.items():
            membership.beat(member, seen)
        self._drop_lost(membership)
        node.membership = membership
        node.router = router = r.Router(self.routing)
        node.ids = OfferIds(grant.token)
        node.position = len(redis.log)
        events: list[r.Event] = [r.AgentUpserted(a.id) for a in self.agents]
        requeue: list[str] = []
        for item, row in sorted(self.store.rows.items(), key=lambda kv: kv[1].arrived_at):
            if row.status == "closed":
                continue
            events.append(r.ItemArrived(r.WorkItem(item, "webchat", row.arrived_at)))
            if row.status == "assigned":
                assert row.owner is not None
                events.append(r.ManualAssign(item, row.owner, force=True))
            elif row.status == "offered":
                requeue.append(item)
        connected: Counter[str] = Counter()
        for counts in redis.conns.values():
            connected.update(counts)
        for agent_id, n in sorted(connected.items()):
            events.extend(r.AgentConnected(agent_id) for _ in range(n))
            status = redis.chosen.get(agent_id)
            if n and status is not None:
                events.append(r.PresenceChanged(agent_id, status))
        for item in requeue:  # the old router's offers: back in line, made again
            self.store.requeue(node.id, grant.token, self.now, item)
        node.pending.extend(router.handle_all(events, self.now))

    def _drop_lost(self, membership: Membership) -> list[r.Event]:
        dropped: list[r.Event] = []
        for lost in membership.expire(self.now):
            self.redis.beats.pop(lost, None)
            for agent_id, n in sorted(self.redis.conns.pop(lost, Counter()).items()):
                dropped.extend(r.AgentDisconnected(agent_id) for _ in range(n))
        return dropped

    def _route(self, node: Node) -> None:
        """The lease holder: carry out what is pending (a node that was paused
        does this before it notices its lease lapsed), then read the log."""
        if node.router is None or node.grant is None:
            return
        token = node.grant.token
        for command in node.pending:
            if self._carry_out(node, token, command) is False:
                self._step_down(node)  # fenced out: someone else routes
                return
        node.pending = []
        if self.now >= node.believed_until:
            self._step_down(node)
            return
        if not self._reaches(node):
            return
        membership = node.membership
        assert membership is not None
        for member, seen in self.redis.beats.items():
            membership.beat(member, seen)
        events = self._drop_lost(membership)
        log = self.redis.log
        end = min(len(log), node.position + 20)
        for index in range(node.position, end):
            for event in log[index][1]:
                inward = self._inward(node, event)
                if inward is not None:
                    events.append(inward)
        node.position = end
        node.pending = node.router.handle_all(events or [r.Tick()], self.now)
        # A pause may fall here, between deciding and carrying out.
        if node.pending and self.rng.random() < self.cfg.pause * 10:
            node.paused_until = self.now + self.rng.uniform(1.0, 2.0) * self.cfg.ttl
            return
        for command in node.pending:
            if self._carry_out(node, token, command) is False:
                self._step_down(node)
                return
        node.pending = []
        self.redis.commit(node.id, token, node.position, self.now)

    def _inward(self, node: Node, event: r.Event) -> r.Event | None:
        if isinstance(event, r.OfferAccepted | r.OfferRejected):
            offer_id = node.ids.inward(event.offer_id)
            if offer_id is None:
                return None  # an offer of an earlier router: it is gone
            if isinstance(event, r.OfferAccepted):
                return r.OfferAccepted(offer_id, event.agent_id)
            return r.OfferRejected(offer_id, event.agent_id, event.reason)
        return event

    def _carry_out(self, node: Node, token: int, command: r.Command) -> bool | None:
        store, now = self.store, self.now
        if isinstance(command, r.OfferMade):
            done = store.offer(node.id, token, now, command.item_id, command.agent_id)
            if done:
                agent = self.agents[int(command.agent_id[1:])]
                if agent.node is not None:
                    wait = self.rng.uniform(0.2, self.cfg.offer_timeout * 1.3)
                    agent.offers[node.ids.outward(command.offer_id)] = now + wait
            elif done is None:
                node.pending_events.append(r.ItemCancelled(command.item_id, "moved on"))
            self.trace.update(f"{now:.1f} offer {command.item_id} {command.agent_id}".encode())
            return done
        if isinstance(command, r.OfferRevoked):
            return store.requeue(node.id, token, now, command.item_id)
        if isinstance(command, r.ItemAssigned):
            if command.offer_id is None:
                return True  # a manual assignment: stored already
            done = store.assign(node.id, token, now, command.item_id, command.agent_id)
            if done:
                agent = self.agents[int(command.agent_id[1:])]
                agent.closes[command.item_id] = now + self.rng.uniform(1.0, 8.0)
            self.trace.update(f"{now:.1f} assign {command.item_id} {command.agent_id}".encode())
            return done
        return True

    # -- customers and agents ----------------------------------------------------------

    def _clients(self, faulty: bool) -> None:
        rng, cfg = self.rng, self.cfg
        if faulty and rng.random() < cfg.arrivals * cfg.step:
            node = self.nodes[rng.randrange(len(self.nodes))]
            item = f"c{self.items}"
            arrival = r.ItemArrived(r.WorkItem(item, "webchat", self.now))
            if self._append(node, arrival):  # acknowledged only once in the log
                self.items += 1
                self.store.rows[item] = Row(arrived_at=self.now)
        for agent in self.agents:
            if agent.node is None:
                if self.now >= agent.reconnect_at:
                    index = rng.randrange(len(self.nodes))
                    hello = (r.AgentConnected(agent.id), r.PresenceChanged(agent.id, agent.status))
                    if self._append(self.nodes[index], *hello):
                        agent.node = index
                    else:
                        agent.reconnect_at = self.now + 0.5
                continue
            node = self.nodes[agent.node]
            if faulty and rng.random() < 0.01:
                status = "away" if agent.status == "available" else "available"
                if self._append(node, r.PresenceChanged(agent.id, status)):
                    agent.status = status
            elif (
                not faulty
                and agent.status != "available"
                and self._append(node, r.PresenceChanged(agent.id, "available"))
            ):
                agent.status = "available"
            for offer_id, at in sorted(agent.offers.items()):
                if self.now < at:
                    continue
                del agent.offers[offer_id]
                reject = faulty and rng.random() < 0.2
                event: r.Event = (
                    r.OfferRejected(offer_id, agent.id)
                    if reject
                    else r.OfferAccepted(offer_id, agent.id)
                )
                self._append(node, event)
            for item, at in sorted(agent.closes.items()):
                row = self.store.rows[item]
                if row.status != "assigned" or row.owner != agent.id:
                    del agent.closes[item]
                elif self.now >= at and self._reaches(node):
                    # The store first, then the log (as services.close does).
                    row.status = "closed"
                    del agent.closes[item]
                    if not self._append(node, r.ItemClosed(item)):
                        node.pending_events.append(r.ItemClosed(item))  # retried

    # -- invariants ------------------------------------------------------------------------

    def _check(self) -> None:
        for token, nodes in self.store.by_token.items():
            if len(nodes) > 1:
                self._fail(f"token {token} used by {sorted(nodes)}")
            if self.redis.grants.get(token) not in nodes:
                self._fail(f"token {token} used by {sorted(nodes)}, granted to another")
        for _, token, what, item, _ in self.store.admitted[self._checked :]:
            if token != self.store.fence.token:
                self._fail(f"stale token {token} admitted ({what} {item})")
        self._checked = len(self.store.admitted)
        load = Counter(row.owner for row in self.store.rows.values() if row.status == "assigned")
        for agent, n in load.items():
            if n > CAPACITY:
                self._fail(f"agent {agent} holds {n} conversations (capacity {CAPACITY})")

    def _check_router_view(self) -> None:
        """At rest, the router's view of every agent is the truth."""
        leaders = [n for n in self.nodes if n.router is not None]
        if len(leaders) != 1:
            self._fail(f"{len(leaders)} routers at rest")
        router = leaders[0].router
        assert router is not None
        snapshot = router.agents_snapshot()
        for agent in self.agents:
            seen = snapshot[agent.id]
            # Each simulated agent holds one socket: the router must count one.
            sockets = router._presence._get(agent.id).connections
            if sockets != (agent.node is not None):
                self._fail(f"router counts {sockets} sockets of {agent.id}")
            truth = (agent.node is not None, agent.status if agent.node is not None else None)
            view = (seen.connected, seen.presence if seen.connected else None)
            if view != truth or seen.assigned or seen.open_offers:
                self._fail(f"router sees {agent.id} as {seen}, truth {truth}")

    def _settled(self) -> bool:
        return self.redis.position == len(self.redis.log) and all(
            row.status == "closed" for row in self.store.rows.values()
        )

    # -- running -------------------------------------------------------------------------------

    def _step(self, faulty: bool) -> None:
        if faulty:
            self._faults()
        order = list(self.nodes)
        self.rng.shuffle(order)
        for node in order:
            if not node.up or self.now < node.paused_until:
                continue
            if self._reaches(node):
                self._beat(node)
            if node.pending_events and self._append(node, *node.pending_events):
                node.pending_events = []
            if self._reaches(node):
                self._lease(node)
            self._route(node)
        self._clients(faulty)
        self._check()
        self.now = round(self.now + self.cfg.step, 6)

    def run(self) -> Run:
        cfg = self.cfg
        while self.now < cfg.faulty:
            self._step(faulty=True)
        for node in self.nodes:
            node.paused_until = node.partitioned_until = 0.0
            if not node.up:
                node.up, node.incarnation, node.joined = True, node.incarnation + 1, False
        end = self.now + cfg.quiet
        while not self._settled():
            if self.now >= end:
                waiting = sorted(i for i, row in self.store.rows.items() if row.status != "closed")
                self._fail(
                    f"not settled after the quiet phase: log {self.redis.position}/"
                    f"{len(self.redis.log)} applied, open {waiting[:10]}"
                )
            self._step(faulty=False)
        self._check_router_view()
        never = [i for i, row in self.store.rows.items() if not row.ever_assigned]
        if never:
            self._fail(f"closed without an owner: {never[:10]}")
        return Run(
            self.seed,
            self.trace.hexdigest(),
            self.items,
            sum(row.status == "closed" for row in self.store.rows.values()),
            self.failovers,
            self.store.refused,
            len(self.redis.log),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--no-fencing", action="store_true", help="show what fencing prevents")
    args = parser.parse_args(argv)
    cfg = SimConfig(fencing=not args.no_fencing)
    totals: Counter[str] = Counter()
    for seed in range(args.seed, args.seed + args.runs):
        try:
            run = Simulation(seed, cfg).run()
        except Violation as exc:
            print(f"FAIL {exc}", file=sys.stderr)
            return 1
        totals.update(
            arrived=run.arrived,
            failovers=run.failovers,
            refused=run.refused,
            log=run.log_entries,
        )
    print(
        f"{args.runs} runs from seed {args.seed}: "
        + ", ".join(f"{k} {v}" for k, v in totals.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
