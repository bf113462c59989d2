"""Overflow: what happens to an item that waits too long or finds nobody.

A queue lists steps, applied in order, each when the item has waited
``after`` seconds in the queue or (``if_no_agent``) as soon as no agent
qualifies for it at all. Steps either widen the skill ring, bullseye style
(lower every level, then drop optional skills), or move the item to another
queue (an overflow queue, or a bot queue). Moving starts that queue's own
steps from the first one; the item keeps its place in line (arrival time).
"""

from enum import StrEnum

from router.skills import Requirements, drop_optional, lower_proficiency


class OverflowAction(StrEnum):
    LOWER_PROFICIENCY = "lower_proficiency"
    DROP_OPTIONAL = "drop_optional"
    MOVE = "move"
    BOT = "bot"


WIDENING = frozenset({OverflowAction.LOWER_PROFICIENCY, OverflowAction.DROP_OPTIONAL})


def widen(reqs: Requirements, action: OverflowAction, by: int) -> Requirements:
    """The requirements after a widening step."""
    if action is OverflowAction.LOWER_PROFICIENCY:
        return lower_proficiency(reqs, by)
    if action is OverflowAction.DROP_OPTIONAL:
        return drop_optional(reqs)
    raise ValueError(f"{action} does not widen the skill ring")


def describe(action: OverflowAction, by: int, queue: str | None) -> str:
    """A short human text for ``ItemOverflowed.step``."""
    if action is OverflowAction.LOWER_PROFICIENCY:
        return f"lower_proficiency by {by}"
    if action is OverflowAction.DROP_OPTIONAL:
        return "drop_optional"
    return f"{action.value} to {queue}"
