"""Which SLA policy's KPIs a conversation or case gets.

Policies are tried in config order; for each KPI the first policy that
applies to the subject's kind, whose ``when`` holds over its attributes and
that lists the KPI, wins (as Dynamics 365 picks the first applicable SLA
item). So a specific policy placed before a general one overrides it KPI by
KPI, and two policies with different KPIs both apply. Policies are chosen
when the clocks start (and when a case is reactivated); later changes to the
attributes do not re-choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router.expressions import Expression
from sla.calendar import ALWAYS_OPEN, BusinessHours, Calendar
from sla.config import CalendarConfig, KpiConfig, SlaPolicy


@dataclass(frozen=True, slots=True)
class Applicable:
    policy: SlaPolicy
    kpi: KpiConfig
    hours: BusinessHours


class Policies:
    """The compiled ``[[calendars]]`` and ``[[sla]]`` sections."""

    def __init__(self, calendars: Sequence[CalendarConfig], policies: Sequence[SlaPolicy]) -> None:
        self._calendars: dict[str, Calendar] = {c.name: c.build() for c in calendars}
        self._policies = list(policies)
        self._by_name = {p.name: p for p in policies}
        self._conditions: list[Expression | None] = [p.condition() for p in policies]
        self._succeed: dict[tuple[str, str], Expression] = {
            (p.name, k.kpi): Expression(k.succeed_when)
            for p in policies
            for k in p.kpis
            if k.succeed_when is not None
        }

    def __len__(self) -> int:
        return len(self._policies)

    def applies_to(self, kind: str) -> bool:
        return any(p.applies_to == kind for p in self._policies)

    def hours(self, calendar: str | None) -> BusinessHours:
        """The named calendar, or 24x7 (also for a name no longer configured)."""
        if calendar is None:
            return ALWAYS_OPEN
        return self._calendars.get(calendar, ALWAYS_OPEN)

    def policy(self, name: str) -> SlaPolicy | None:
        return self._by_name.get(name)

    def kpi(self, policy: str, kpi: str) -> KpiConfig | None:
        found = self._by_name.get(policy)
        if found is None:
            return None
        return next((k for k in found.kpis if k.kpi == kpi), None)

    def select(self, kind: str, attributes: Mapping[str, Any]) -> list[Applicable]:
        """The KPIs to start for a new subject of ``kind``."""
        chosen: dict[str, Applicable] = {}
        for policy, condition in zip(self._policies, self._conditions, strict=True):
            if policy.applies_to != kind:
                continue
            if condition is not None and not condition.evaluate(attributes):
                continue
            for kpi in policy.kpis:
                if kpi.kpi not in chosen:
                    chosen[kpi.kpi] = Applicable(policy, kpi, self.hours(policy.calendar))
        return list(chosen.values())

    def met(self, policy: str, kpi: str, attributes: Mapping[str, Any]) -> bool:
        """A custom KPI's ``succeed_when`` over the subject, now."""
        condition = self._succeed.get((policy, kpi))
        return condition is not None and condition.evaluate(attributes)
