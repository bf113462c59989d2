"""Agents as the router sees them, and the indexes that keep decisions fast.

An agent is *ready* on a channel when they are connected, in a status that
accepts work, below their open-offer limit and have capacity for that
channel. ``AgentIndex`` keeps, per channel, the set of ready agents and, per
skill, the set of agents who have it, so finding candidates for an item is a
walk over the smallest of those sets rather than over every agent.

For the default method (longest idle) it also keeps, per skill and overall,
the agents in order of their last assignment, so when many agents are idle
the first eligible one in that order is the answer and the walk stops there.
"""

from bisect import bisect_left, insort
from dataclasses import dataclass, field

from router.capacity import Capacity, Load
from router.items import CHANNELS, Channel


@dataclass(slots=True)
class AgentState:
    id: str
    name: str
    skills: dict[str, int]
    capacity: Capacity
    queues: frozenset[str] | None
    load: Load = field(default_factory=Load)
    offers: set[str] = field(default_factory=set)  # open offer ids
    assigned: set[str] = field(default_factory=set)  # item ids
    # Items taken by force or kept after capacity shrank: allowed above capacity.
    overcommit: set[str] = field(default_factory=set)
    # Never assigned: -inf, so a fresh agent counts as the longest idle.
    last_assigned_at: float = float("-inf")
    ready_on: frozenset[Channel] = frozenset()

    def serves(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues


_EMPTY: frozenset[str] = frozenset()


IdleOrder = list[tuple[float, str]]


class AgentIndex:
    def __init__(self) -> None:
        self.agents: dict[str, AgentState] = {}
        self.ready: dict[Channel, set[str]] = {ch: set() for ch in CHANNELS}
        self.by_skill: dict[str, set[str]] = {}
        # (last_assigned_at, id), sorted: everyone, and per skill.
        self.idle_order: IdleOrder = []
        self.idle_by_skill: dict[str, IdleOrder] = {}

    def _order_add(self, agent: AgentState) -> None:
        entry = (agent.last_assigned_at, agent.id)
        insort(self.idle_order, entry)
        for skill in agent.skills:
            insort(self.idle_by_skill.setdefault(skill, []), entry)

    def _order_remove(self, agent: AgentState) -> None:
        entry = (agent.last_assigned_at, agent.id)
        for order in (self.idle_order, *(self.idle_by_skill[s] for s in agent.skills)):
            del order[bisect_left(order, entry)]

    def set_last_assigned(self, agent: AgentState, at: float) -> None:
        self._order_remove(agent)
        agent.last_assigned_at = at
        self._order_add(agent)

    def idle_order_for(self, skill: str | None) -> IdleOrder:
        if skill is None:
            return self.idle_order
        return self.idle_by_skill.get(skill, [])

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.agents

    def get(self, agent_id: str) -> AgentState | None:
        return self.agents.get(agent_id)

    def add(self, agent: AgentState) -> None:
        self.agents[agent.id] = agent
        for skill in agent.skills:
            self.by_skill.setdefault(skill, set()).add(agent.id)
        self._order_add(agent)

    def remove(self, agent_id: str) -> None:
        agent = self.agents.pop(agent_id)
        self._order_remove(agent)
        for skill in agent.skills:
            self.by_skill[skill].discard(agent_id)
        for ch in agent.ready_on:
            self.ready[ch].discard(agent_id)

    def set_skills(self, agent: AgentState, skills: dict[str, int]) -> None:
        self._order_remove(agent)
        for skill in agent.skills:
            self.by_skill[skill].discard(agent.id)
        agent.skills = skills
        for skill in skills:
            self.by_skill.setdefault(skill, set()).add(agent.id)
        self._order_add(agent)

    def with_skill(self, skill: str) -> set[str] | frozenset[str]:
        return self.by_skill.get(skill, _EMPTY)

    def refresh(self, agent: AgentState, takes_work: bool, offer_limit: int) -> None:
        """Recompute on which channels the agent is ready, and update the index."""
        if takes_work and len(agent.offers) < offer_limit:
            now_ready = frozenset(
                ch for ch in agent.capacity.accepted if agent.capacity.can_take(agent.load, ch)
            )
        else:
            now_ready = frozenset()
        if now_ready == agent.ready_on:
            return
        for ch in agent.ready_on - now_ready:
            self.ready[ch].discard(agent.id)
        for ch in now_ready - agent.ready_on:
            self.ready[ch].add(agent.id)
        agent.ready_on = now_ready
