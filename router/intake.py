"""Intake rules: decide queue, skills and priority when an item arrives.

Rules run in config order. Every rule whose condition holds applies: it may
set the queue and the priority (a later match overrides an earlier one) and
adds its skills (merged, highest level wins). A rule with ``stop = true``
ends the evaluation when it matches.

Conditions see the item's ``attributes`` plus ``channel``, ``language``,
``queue`` and ``priority``. The shell supplies ``customer``, ``prechat``,
``message`` (the first message) and ``time`` (``time_attributes``) in the
attributes: the core never reads a clock, so time of day comes from outside.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.config import RoutingConfig
from router.items import WorkItem
from router.skills import Requirements, from_mapping, normalize

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def time_attributes(moment: datetime) -> dict[str, Any]:
    """The ``time`` attribute for a local time (business-hours time zone)."""
    return {"hour": moment.hour, "minute": moment.minute, "weekday": WEEKDAYS[moment.weekday()]}


def context(item: WorkItem) -> dict[str, Any]:
    """What intake conditions see. Item fields that are set win over attributes."""
    ctx: dict[str, Any] = dict(item.attributes)
    ctx["channel"] = item.channel
    ctx["priority"] = item.priority
    if item.language is not None:
        ctx["language"] = item.language
    if item.queue is not None:
        ctx["queue"] = item.queue
    ctx.setdefault("language", None)
    ctx.setdefault("queue", None)
    return ctx


@dataclass(frozen=True, slots=True)
class Decision:
    queue: str
    priority: int
    requirements: Requirements
    rules: tuple[str, ...]  # names of the rules that matched, in order


class Intake:
    def __init__(self, config: RoutingConfig) -> None:
        self._rules = config.intake
        self._default_queue = config.default_queue

    def decide(self, item: WorkItem) -> Decision:
        ctx: Mapping[str, Any] = context(item)
        queue = item.queue or self._default_queue
        priority = item.priority
        reqs = list(item.skills)
        matched: list[str] = []
        for rule in self._rules:
            if not rule.condition.evaluate(ctx):
                continue
            matched.append(rule.name)
            if rule.queue is not None:
                queue = rule.queue
            if rule.priority is not None:
                priority = rule.priority
            reqs.extend(from_mapping(rule.skills, rule.optional_skills))
            if rule.stop:
                break
        return Decision(queue, priority, normalize(reqs), tuple(matched))
