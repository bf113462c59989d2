"""Routing quality: does the router answer customers faster at the same staffing?

Discrete-event simulation with Poisson arrivals, exponential handling times
and exponential patience (customers abandon while waiting), driving the real
Router (offers accepted at once) and two skill-blind baselines on the same
arrivals:

1. One skill, N agents, one conversation each, infinite patience: the
   router's average speed of answer must match Erlang C (M/M/N) within 10%.
2. Two languages x two products, agents with overlapping skills and
   proficiencies, two conversations each. Proficiency changes handling time
   (level 5: 0.6x, level 1: 1.4x, none: 1.6x); an agent who does not speak the
   customer's language spends 60 s and hands the conversation back to the
   queue. Baselines: round robin over online agents (how Chatwoot
   auto-assigns) and fewest open conversations (Rocket.Chat's load
   balancing). They are given a memory of who handed a conversation back, so
   they never bounce it to the same agent twice.

Service level = answered (by an agent who speaks the language) within 20 s,
over all arrivals. Skill match = answering agent has the language and the
product at level 3 or more.

    python bench/routing_quality.py [--hours 8] [--seeds 5]
"""

import argparse
import heapq
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router import (
    AgentConnected,
    AgentUpserted,
    Command,
    Event,
    ItemArrived,
    ItemAssigned,
    ItemCancelled,
    ItemClosed,
    OfferAccepted,
    OfferMade,
    Router,
    RoutingConfig,
    Tick,
    Transferred,
    WorkItem,
)

Assignment = tuple[str, str]  # (item id, agent id)


def erlang_c_wait_probability(servers: int, load: float) -> float:
    """Erlang C: probability an arrival waits, M/M/N with offered load ``load``."""
    if load >= servers:
        return 1.0
    term, total = 1.0, 1.0  # a^k/k! accumulated, k = 0
    for k in range(1, servers):
        term *= load / k
        total += term
    top = term * load / servers * servers / (servers - load)
    return top / (total + top)


def erlang_c_asa(servers: int, arrival_rate: float, handle_time: float) -> float:
    """Average speed of answer of M/M/N, in seconds."""
    load = arrival_rate * handle_time
    return erlang_c_wait_probability(servers, load) * handle_time / (servers - load)


# --- policies ---------------------------------------------------------------------


class Policy(Protocol):
    name: str

    def arrive(self, item_id: str, attrs: Mapping[str, str], now: float) -> list[Assignment]: ...
    def abandon(self, item_id: str, now: float) -> list[Assignment]: ...
    def done(self, item_id: str, agent_id: str, now: float) -> list[Assignment]: ...
    def bounce(self, item_id: str, agent_id: str, now: float) -> list[Assignment]: ...
    def tick(self, now: float) -> list[Assignment]: ...
    def next_deadline(self) -> float | None: ...


class Ours:
    """The real Router; every offer is accepted at once."""

    def __init__(self, name: str, config: RoutingConfig, agents: list["Agent"]) -> None:
        self.name = name
        self.router = Router(config)
        for a in agents:
            self.router.handle(AgentUpserted(a.id, skills=a.skills), 0.0)
            self.router.handle(AgentConnected(a.id), 0.0)

    def _run(self, event: Event, now: float) -> list[Assignment]:
        out: list[Assignment] = []
        pending: deque[Command] = deque(self.router.handle(event, now))
        while pending:
            cmd = pending.popleft()
            if isinstance(cmd, OfferMade):
                pending.extend(self.router.handle(OfferAccepted(cmd.offer_id, cmd.agent_id), now))
            elif isinstance(cmd, ItemAssigned):
                out.append((cmd.item_id, cmd.agent_id))
        return out

    def arrive(self, item_id: str, attrs: Mapping[str, str], now: float) -> list[Assignment]:
        item = WorkItem(item_id, "webchat", now, language=attrs["language"], attributes=attrs)
        return self._run(ItemArrived(item), now)

    def abandon(self, item_id: str, now: float) -> list[Assignment]:
        return self._run(ItemCancelled(item_id), now)

    def done(self, item_id: str, agent_id: str, now: float) -> list[Assignment]:
        return self._run(ItemClosed(item_id), now)

    def bounce(self, item_id: str, agent_id: str, now: float) -> list[Assignment]:
        return self._run(Transferred(item_id, agent_id, "support"), now)

    def tick(self, now: float) -> list[Assignment]:
        return self._run(Tick(), now)

    def next_deadline(self) -> float | None:
        return self.router.next_deadline()


class SkillBlind:
    """A FIFO queue and a skill-blind choice of agent among those with room.

    With ``teams`` the customer's language picks a team (a Chatwoot inbox or
    Rocket.Chat department per language, the usual way to run them) and the
    choice is skill-blind only within it.
    """

    def __init__(
        self,
        name: str,
        agents: list["Agent"],
        capacity: int,
        pick: Callable[["SkillBlind", list[str]], str],
        teams: bool = False,
    ) -> None:
        self.name = name
        self.order = [a.id for a in agents]
        self.speaks = {
            a.id: {s for s, lv in a.skills.items() if s in ("en", "es") and lv} for a in agents
        }
        self.teams = teams
        self.language: dict[str, str] = {}
        self.capacity = capacity
        self.load = dict.fromkeys(self.order, 0)
        self.queue: deque[str] = deque()
        self.bounced: dict[str, set[str]] = {}
        self.pointer = -1
        self.pick = pick

    def _free_for(self, item_id: str) -> list[str]:
        skip = self.bounced.get(item_id, set())
        language = self.language.get(item_id, "")
        return [
            a
            for a in self.order
            if self.load[a] < self.capacity
            and a not in skip
            and not (self.teams and language and language not in self.speaks[a])
        ]

    def _dispatch(self) -> list[Assignment]:
        out = []
        progress = True
        while self.queue and progress:
            progress = False
            for item_id in list(self.queue):
                free = self._free_for(item_id)
                if free:
                    agent = self.pick(self, free)
                    self.load[agent] += 1
                    self.queue.remove(item_id)
                    out.append((item_id, agent))
                    progress = True
                    break
        return out

    def arrive(self, item_id: str, attrs: Mapping[str, str], now: float) -> list[Assignment]:
        self.language[item_id] = attrs.get("language", "")
        self.queue.append(item_id)
        return self._dispatch()

    def abandon(self, item_id: str, now: float) -> list[Assignment]:
        if item_id in self.queue:
            self.queue.remove(item_id)
        return []

    def done(self, item_id: str, agent_id: str, now: float) -> list[Assignment]:
        self.load[agent_id] -= 1
        return self._dispatch()

    def bounce(self, item_id: str, agent_id: str, now: float) -> list[Assignment]:
        self.load[agent_id] -= 1
        self.bounced.setdefault(item_id, set()).add(agent_id)
        self.queue.appendleft(item_id)  # it has waited longest
        return self._dispatch()

    def tick(self, now: float) -> list[Assignment]:
        return []

    def next_deadline(self) -> float | None:
        return None


def round_robin(policy: SkillBlind, free: list[str]) -> str:
    n = len(policy.order)
    for step in range(1, n + 1):
        candidate = policy.order[(policy.pointer + step) % n]
        if candidate in free:
            policy.pointer = policy.order.index(candidate)
            return candidate
    raise AssertionError("no free agent")


def fewest_open(policy: SkillBlind, free: list[str]) -> str:
    return min(free, key=lambda a: (policy.load[a], policy.order.index(a)))


# --- the simulation --------------------------------------------------------------


@dataclass
class Agent:
    id: str
    skills: dict[str, int]


@dataclass
class Customer:
    id: str
    arrived: float
    language: str
    product: str
    patience: float
    answered: float | None = None
    abandoned: bool = False
    matched: bool = False
    with_agent: bool = False


@dataclass
class Outcome:
    name: str
    customers: list[Customer] = field(default_factory=list)

    @property
    def answered(self) -> list[Customer]:
        return [c for c in self.customers if c.answered is not None]

    def service_level(self, threshold: float = 20.0) -> float:
        ok = sum(1 for c in self.answered if c.answered - c.arrived <= threshold)  # type: ignore[operator]
        return ok / len(self.customers)

    def asa(self) -> float:
        waits = [c.answered - c.arrived for c in self.answered]  # type: ignore[operator]
        return sum(waits) / len(waits)

    def abandonment(self) -> float:
        return sum(c.abandoned for c in self.customers) / len(self.customers)

    def skill_match(self) -> float:
        return sum(c.matched for c in self.answered) / len(self.answered)


def handle_factor(level: int) -> float:
    return 1.6 if level <= 0 else 1.6 - 0.2 * level


def simulate(
    policy: Policy,
    agents: list[Agent],
    arrivals: list[Customer],
    handle_time: float,
    rng: random.Random,
    required_level: int = 3,
) -> Outcome:
    """Run ``arrivals`` (already drawn) through ``policy``; ``rng`` draws durations."""
    skills = {a.id: a.skills for a in agents}
    customers = {c.id: c for c in arrivals}
    # Pre-draw one exponential per customer so every policy sees the same work.
    base = {c.id: rng.expovariate(1.0) * handle_time for c in arrivals}
    heap: list[tuple[float, int, str, str, str]] = []
    seq = 0

    def push(at: float, kind: str, item: str = "", agent: str = "") -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (at, seq, kind, item, agent))

    for c in arrivals:
        push(c.arrived, "arrive", c.id)
        if math.isfinite(c.patience):
            push(c.arrived + c.patience, "abandon", c.id)
    tick_at: float | None = None

    def start(assignments: list[Assignment], now: float) -> None:
        for item_id, agent_id in assignments:
            c = customers[item_id]
            c.with_agent = True
            known = skills[agent_id]
            if c.language and known.get(c.language, 0) < 1:
                push(now + 60.0, "bounce", item_id, agent_id)
                continue
            c.answered = now
            level = known.get(c.product, 0)
            c.matched = level >= required_level
            factor = handle_factor(level) if c.product else 1.0
            push(now + base[item_id] * factor, "done", item_id, agent_id)

    while heap:
        now, _, kind, item_id, agent_id = heapq.heappop(heap)
        if kind == "arrive":
            c = customers[item_id]
            attrs = {"language": c.language, "product": c.product}
            start(policy.arrive(item_id, attrs, now), now)
        elif kind == "abandon":
            c = customers[item_id]
            if c.answered is None and not c.with_agent:
                c.abandoned = True
                start(policy.abandon(item_id, now), now)
        elif kind == "done":
            start(policy.done(item_id, agent_id, now), now)
        elif kind == "bounce":
            customers[item_id].with_agent = False
            start(policy.bounce(item_id, agent_id, now), now)
        elif kind == "tick":
            tick_at = None
            start(policy.tick(now), now)
        deadline = policy.next_deadline()
        if deadline is not None and (tick_at is None or deadline < tick_at):
            tick_at = deadline
            push(deadline, "tick")
    return Outcome(policy.name, arrivals)


def poisson_arrivals(
    rng: random.Random,
    rate: float,
    hours: float,
    mix: list[tuple[str, str, float]],
    patience: float,
) -> list[Customer]:
    out, t, n = [], 0.0, 0
    weights = [w for _, _, w in mix]
    while True:
        t += rng.expovariate(rate)
        if t > hours * 3600:
            return out
        n += 1
        language, product, _ = rng.choices(mix, weights)[0]
        wait = rng.expovariate(1 / patience) if math.isfinite(patience) else math.inf
        out.append(Customer(f"c{n}", t, language, product, wait))


def fresh(customers: list[Customer]) -> list[Customer]:
    return [Customer(c.id, c.arrived, c.language, c.product, c.patience) for c in customers]


# --- experiment 1: Erlang C ------------------------------------------------------


@dataclass
class ErlangResult:
    asa: float  # simulated average speed of answer
    asa_exact: float  # Erlang C
    waited: float  # simulated share of customers who waited
    waited_exact: float  # Erlang C probability of waiting


def erlang_check(
    agents: int, occupancy: float, handle_time: float, arrivals: int, seed: int
) -> ErlangResult:
    """Simulated vs Erlang C for one skill, one conversation per agent."""
    rate = occupancy * agents / handle_time
    rng = random.Random(seed)
    customers = poisson_arrivals(rng, rate, arrivals / rate / 3600, [("", "", 1.0)], math.inf)
    staff = [Agent(f"a{i:02d}", {}) for i in range(agents)]
    config = RoutingConfig.from_mapping(
        {"capacity": {"standard": {"channels": {"webchat": 1}}}, "aging": {"seconds_per_level": 0}}
    )
    outcome = simulate(Ours("ours", config, staff), staff, customers, handle_time, rng)
    waited = sum(1 for c in outcome.answered if c.answered > c.arrived) / len(outcome.answered)  # type: ignore[operator]
    return ErlangResult(
        outcome.asa(),
        erlang_c_asa(agents, rate, handle_time),
        waited,
        erlang_c_wait_probability(agents, rate * handle_time),
    )


# --- experiment 2: multi-skill ---------------------------------------------------

MIX = [("en", "billing", 0.40), ("en", "tech", 0.30), ("es", "billing", 0.18), ("es", "tech", 0.12)]


def staff() -> list[Agent]:
    """20 agents: 12 English, 4 Spanish, 4 bilingual; strengths differ by product."""
    people = []
    for i in range(12):
        billing, tech = (5, 2) if i % 2 == 0 else (2, 5)
        if i % 4 == 3:
            billing, tech = 3, 3
        people.append(Agent(f"en{i:02d}", {"en": 5, "billing": billing, "tech": tech}))
    for i in range(4):
        billing, tech = (4, 2) if i % 2 == 0 else (2, 4)
        people.append(Agent(f"es{i:02d}", {"es": 5, "billing": billing, "tech": tech}))
    for i in range(4):
        billing, tech = (4, 3) if i % 2 == 0 else (3, 4)
        people.append(Agent(f"bi{i:02d}", {"en": 4, "es": 5, "billing": billing, "tech": tech}))
    return people


def ours_config(method: str, match: str) -> RoutingConfig:
    rules = []
    for language in ("en", "es"):
        for product in ("billing", "tech"):
            rules.append(
                {
                    "name": f"{language} {product}",
                    "when": f'language == "{language}" and product == "{product}"',
                    "skills": {language: 1},
                    "optional_skills": {product: 4},
                }
            )
    return RoutingConfig.from_mapping(
        {
            "default_queue": "support",
            "queues": {
                "support": {
                    "method": method,
                    "match": match,
                    "overflow": [
                        {"after": 5, "action": "lower_proficiency", "by": 1},
                        {"after": 10, "action": "drop_optional"},
                    ],
                }
            },
            "capacity": {"standard": {"channels": {"webchat": 2}}},
            "intake": rules,
            "aging": {"seconds_per_level": 0},
        }
    )


def policies(people: list[Agent]) -> list[Policy]:
    return [
        Ours("ours: longest-idle", ours_config("longest-idle", "exact"), people),
        Ours("ours: most-skilled", ours_config("most-skilled", "exact"), people),
        Ours("ours: closest", ours_config("longest-idle", "closest"), people),
        SkillBlind("round robin (Chatwoot)", people, 2, round_robin),
        SkillBlind("fewest open (Rocket.Chat)", people, 2, fewest_open),
        SkillBlind("round robin, language teams", people, 2, round_robin, teams=True),
        SkillBlind("fewest open, language teams", people, 2, fewest_open, teams=True),
    ]


def multi_skill(
    hours: float, seeds: int, rate_per_hour: float, handle_time: float, patience: float
) -> dict[str, list[Outcome]]:
    results: dict[str, list[Outcome]] = {}
    people = staff()
    for seed in range(seeds):
        arrivals = poisson_arrivals(random.Random(seed), rate_per_hour / 3600, hours, MIX, patience)
        for policy in policies(people):
            outcome = simulate(
                policy, people, fresh(arrivals), handle_time, random.Random(seed + 99)
            )
            results.setdefault(policy.name, []).append(outcome)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--erlang-arrivals", type=int, default=150_000)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=450.0, help="arrivals per hour")
    args = parser.parse_args()

    print("1) One skill, M/M/N: average speed of answer vs Erlang C")
    print(
        f"{'agents':>7} {'occupancy':>10} {'ASA sim':>9} {'Erlang C':>9} {'diff':>7}"
        f" {'P(wait) sim':>12} {'Erlang C':>9}"
    )
    for agents, occupancy in ((10, 0.85), (25, 0.9)):
        r = erlang_check(agents, occupancy, 300.0, args.erlang_arrivals, seed=1)
        print(
            f"{agents:>7} {occupancy:>10.2f} {r.asa:>8.1f}s {r.asa_exact:>8.1f}s"
            f" {r.asa / r.asa_exact - 1:>+7.1%} {r.waited:>12.3f} {r.waited_exact:>9.3f}"
        )

    print(
        f"\n2) Multi-skill (en/es x billing/tech), 20 agents x 2 chats, {args.rate:.0f}/h,"
        f" AHT 300 s, patience 120 s, {args.hours:g} h x {args.seeds} seeds, same arrivals"
    )
    results = multi_skill(args.hours, args.seeds, args.rate, 300.0, 120.0)
    header = f"{'policy':<29} {'SL 20s':>7} {'ASA':>7} {'abandon':>8} {'skill match':>12}"
    print(header)
    print("-" * len(header))
    summary = {}
    for name, outcomes in results.items():
        n = len(outcomes)
        sl = sum(o.service_level() for o in outcomes) / n
        asa = sum(o.asa() for o in outcomes) / n
        ab = sum(o.abandonment() for o in outcomes) / n
        sm = sum(o.skill_match() for o in outcomes) / n
        summary[name] = sl
        print(f"{name:<29} {sl:>7.1%} {asa:>6.1f}s {ab:>8.1%} {sm:>12.1%}")
    best_ours = max(v for k, v in summary.items() if k.startswith("ours"))
    best_base = max(v for k, v in summary.items() if not k.startswith("ours"))
    print(
        f"\nbest of ours vs best baseline, service level: {best_ours:.1%} vs {best_base:.1%}"
        f" ({(best_ours - best_base) * 100:+.1f} points)"
    )


if __name__ == "__main__":
    main()
