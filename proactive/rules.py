"""Decide whether to invite a visitor, and with which rule.

Rules are tried in config order; the first whose condition holds invites.
The service variables cost a look at the router (``agents_available``) or a
calendar (``open``), so they are asked for only when a rule's condition names
them, through the ``Service`` the shell passes in. A core: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from proactive.config import ProactiveRule
from router.expressions import BoolOp, Compare, Name, Node, Not

SERVICE_VARIABLES = ("agents_available", "open")


class Service(Protocol):
    def agents_available(self, queue: str | None) -> bool:
        """An agent who serves ``queue`` (None: the default queue) has room now."""
        ...

    def open(self, calendar: str | None) -> bool:
        """Within the calendar's business hours now (None: always)."""
        ...


@dataclass(frozen=True, slots=True)
class Visit:
    """What the widget reports about the visitor's page."""

    page_url: str
    seconds_on_page: float
    visits: int | None = None
    language: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)

    def variables_for_rules(self) -> dict[str, Any]:
        return {
            "page_url": self.page_url,
            "seconds_on_page": self.seconds_on_page,
            "visits": self.visits,
            "language": self.language,
            "variables": dict(self.variables),
        }


@dataclass(frozen=True, slots=True)
class Invitation:
    rule: str
    message: str
    queue: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message}


def _names(node: Node) -> set[str]:
    match node:
        case Name(path):
            return {path[0]}
        case Not(operand):
            return _names(operand)
        case BoolOp(_, operands):
            return set().union(*(_names(o) for o in operands))
        case Compare(_, left, right):
            return _names(left) | _names(right)
    return set()


class ProactiveRules:
    def __init__(self, rules: Sequence[ProactiveRule]) -> None:
        self.rules = tuple(rules)
        self._needs = {
            rule.name: _names(rule.condition.ast) & set(SERVICE_VARIABLES) for rule in self.rules
        }
        self._by_name = {rule.name: rule for rule in self.rules}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def invite(self, visit: Visit, service: Service) -> Invitation | None:
        """The invitation of the first rule that holds, or None."""
        base = visit.variables_for_rules()
        for rule in self.rules:
            context = dict(base)
            needs = self._needs[rule.name]
            if "agents_available" in needs:
                context["agents_available"] = service.agents_available(rule.queue)
            if "open" in needs:
                context["open"] = service.open(rule.calendar)
            if rule.condition.evaluate(context):
                return Invitation(rule.name, rule.message, rule.queue)
        return None
