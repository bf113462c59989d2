"""Assignment methods: which of the eligible agents gets the offer.

Each method is a sort key; the smallest key wins and the agent id breaks
every tie, so the same state always gives the same choice. In ``closest``
match mode the skill excess comes first and the method breaks ties within it.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol, TypeVar

from router.capacity import Capacity, Load
from router.items import Channel
from router.skills import MatchMode, Requirements, excess, proficiency


class Method(StrEnum):
    HIGHEST_CAPACITY = "highest-capacity"
    LONGEST_IDLE = "longest-idle"
    ROUND_ROBIN = "round-robin"
    MOST_SKILLED = "most-skilled"


ALIASES = {"least-active": Method.LONGEST_IDLE}


class Candidate(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def skills(self) -> dict[str, int]: ...
    @property
    def capacity(self) -> Capacity: ...
    @property
    def load(self) -> Load: ...
    @property
    def last_assigned_at(self) -> float: ...


A = TypeVar("A", bound=Candidate)


def rank_key(
    agent: Candidate,
    method: Method,
    match: MatchMode,
    channel: Channel,
    reqs: Requirements,
    rr_last: str | None,
) -> tuple[float | int | str, ...]:
    """The key that orders candidates for one item; smaller is better."""
    if method is Method.HIGHEST_CAPACITY:
        primary: float = -agent.capacity.free(agent.load, channel)
    elif method is Method.LONGEST_IDLE:
        primary = agent.last_assigned_at
    elif method is Method.MOST_SKILLED:
        primary = -proficiency(agent.skills, reqs)
    else:  # round robin: the first id after the last one picked, wrapping
        primary = 0 if rr_last is None or agent.id > rr_last else 1
    if match is MatchMode.CLOSEST:
        return (excess(agent.skills, reqs), primary, agent.id)
    return (primary, agent.id)


def choose(
    candidates: Iterable[A],
    method: Method,
    match: MatchMode,
    channel: Channel,
    reqs: Requirements,
    rr_last: str | None = None,
) -> A | None:
    """The best candidate, or None when there is none."""
    best: A | None = None
    best_key: tuple[float | int | str, ...] = ()
    for agent in candidates:
        key = rank_key(agent, method, match, channel, reqs, rr_last)
        if best is None or key < best_key:
            best, best_key = agent, key
    return best
