"""Skill requirements and the two match modes.

``exact``: an agent is eligible when every required skill is at or above its
level. ``closest``: the same agents are eligible, but they are ranked by how
little they exceed the requirement, so experts stay free for the work only
they can do.

Requirements are kept normalised (one entry per skill, sorted by name) so
two items that need the same thing share a queue bucket.
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum

from router.items import MIN_LEVEL, SkillRequirement

Requirements = tuple[SkillRequirement, ...]


class MatchMode(StrEnum):
    EXACT = "exact"
    CLOSEST = "closest"


def normalize(reqs: Iterable[SkillRequirement]) -> Requirements:
    """Merge duplicates (highest level wins; optional only if every copy is)."""
    merged: dict[str, SkillRequirement] = {}
    for req in reqs:
        old = merged.get(req.name)
        if old is None:
            merged[req.name] = req
        else:
            merged[req.name] = SkillRequirement(
                req.name, max(old.level, req.level), old.optional and req.optional
            )
    return tuple(merged[name] for name in sorted(merged))


def satisfies(agent_skills: Mapping[str, int], reqs: Requirements) -> bool:
    """Every required skill at or above its level."""
    # A plain loop: this is the hottest function of a decision, and faster than all().
    for req in reqs:  # noqa: SIM110
        if agent_skills.get(req.name, 0) < req.level:
            return False
    return True


def excess(agent_skills: Mapping[str, int], reqs: Requirements) -> int:
    """How far the agent is over the requirement, summed over required skills."""
    return sum(agent_skills.get(r.name, 0) - r.level for r in reqs)


def proficiency(agent_skills: Mapping[str, int], reqs: Requirements) -> int:
    """The agent's total proficiency on the required skills."""
    return sum(agent_skills.get(r.name, 0) for r in reqs)


def lower_proficiency(reqs: Requirements, by: int) -> Requirements:
    """The next bullseye ring: every level lowered by ``by``, never below 1."""
    return tuple(SkillRequirement(r.name, max(MIN_LEVEL, r.level - by), r.optional) for r in reqs)


def drop_optional(reqs: Requirements) -> Requirements:
    """The outer ring: optional skills are no longer required."""
    return tuple(r for r in reqs if not r.optional)


def from_mapping(required: Mapping[str, int], optional: Mapping[str, int] = {}) -> Requirements:
    return normalize(
        [SkillRequirement(n, lv) for n, lv in required.items()]
        + [SkillRequirement(n, lv, optional=True) for n, lv in optional.items()]
    )
