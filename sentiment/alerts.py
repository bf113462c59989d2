"""Supervisor alerts from the customer's rolling sentiment: pure rules from config.

Two rules, each optional:

- ``below``: the rolling score is under `threshold`;
- ``drop``: the rolling score fell by at least `amount` within the last
  `within` customer messages.

Each fires once and then stays quiet until its condition *recovers* (below:
the score climbs back to `threshold + recover_margin`; drop: the fall within
the window shrinks under `amount - recover_margin`), so a conversation that
stays sour does not page the supervisor on every message. That memory is an
`AlertState`, stored next to the rolling score.

An alert carries an action the gateway carries out: none (just tell the
supervisors), raise_priority (by N) or escalate (to a named queue).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sentiment.errors import StateError
from sentiment.rolling import RollingSentiment


class AlertKind(enum.StrEnum):
    BELOW = "sentiment_below"
    DROP = "sentiment_drop"


class ActionKind(enum.StrEnum):
    NONE = "none"
    RAISE_PRIORITY = "raise_priority"
    ESCALATE = "escalate"


# -- configuration ------------------------------------------------------------------


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: TOML has no null: `enabled = false` is how a config file turns a rule off.
    enabled: bool = True
    action: ActionKind = ActionKind.NONE
    #: For raise_priority: how many priority steps to add.
    by: int = Field(default=1, ge=1, le=100)
    #: For escalate: the queue the conversation moves to.
    queue: str | None = Field(default=None, min_length=1)
    recover_margin: float = Field(default=0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _queue_for_escalation(self) -> Self:
        if self.action is ActionKind.ESCALATE and self.queue is None:
            raise ValueError("action 'escalate' needs a queue name in 'queue'")
        return self

    def alert_action(self) -> AlertAction:
        if self.action is ActionKind.RAISE_PRIORITY:
            return AlertAction(self.action, by=self.by)
        if self.action is ActionKind.ESCALATE:
            return AlertAction(self.action, queue=self.queue)
        return AlertAction(ActionKind.NONE)


class BelowRule(_Rule):
    """Alert when the customer's rolling score is under `threshold`."""

    threshold: float = Field(default=-0.5, ge=-1.0, le=1.0)
    #: Customer messages needed before the rule may fire.
    min_messages: int = Field(default=1, ge=1)


class DropRule(_Rule):
    """Alert when the rolling score fell by `amount` or more within `within` customer messages."""

    amount: float = Field(default=0.5, gt=0.0, le=2.0)
    within: int = Field(default=3, ge=1)


class AlertRules(BaseModel):
    """The `[sentiment.alerts]` table: each rule is optional; absent means off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    below: BelowRule | None = Field(default_factory=BelowRule)
    drop: DropRule | None = Field(default_factory=DropRule)


# -- decisions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertAction:
    kind: ActionKind
    by: int = 0
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert decision: what happened, for supervisors to read, and what to do."""

    kind: AlertKind
    message: str
    action: AlertAction
    rolling: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "action": {
                "kind": self.action.kind.value,
                "by": self.action.by,
                "queue": self.action.queue,
            },
            "rolling": round(self.rolling, 4),
        }


@dataclass(frozen=True, slots=True)
class AlertState:
    """Which alerts have fired and not yet recovered (the de-duplication memory)."""

    active: frozenset[AlertKind] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"active": sorted(kind.value for kind in self.active)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AlertState:
        if not data:
            return cls()
        try:
            return cls(frozenset(AlertKind(kind) for kind in data["active"]))
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(f"bad alert state {data!r}: {error}") from error


def evaluate_alerts(
    rules: AlertRules, customer: RollingSentiment, state: AlertState
) -> tuple[list[Alert], AlertState]:
    """Decide which alerts fire after the customer's latest message.

    Returns the new alerts (at most one per rule) and the state to store.
    Call it after every customer message; agent messages do not move the
    customer's rolling score, so they need no evaluation.
    """
    value = customer.value
    if value is None:
        return [], state
    alerts: list[Alert] = []
    active = set(state.active)

    below = rules.below if rules.below is not None and rules.below.enabled else None
    if below is not None:
        firing = customer.count >= below.min_messages and value < below.threshold
        if AlertKind.BELOW in active:
            if value >= below.threshold + below.recover_margin:
                active.discard(AlertKind.BELOW)
        elif firing:
            active.add(AlertKind.BELOW)
            alerts.append(
                Alert(
                    AlertKind.BELOW,
                    f"customer sentiment is {value:+.2f}, below {below.threshold:+.2f}",
                    below.alert_action(),
                    value,
                )
            )
    elif AlertKind.BELOW in active:
        active.discard(AlertKind.BELOW)

    drop_rule = rules.drop if rules.drop is not None and rules.drop.enabled else None
    if drop_rule is not None:
        fall = customer.drop(drop_rule.within)
        if AlertKind.DROP in active:
            if fall < drop_rule.amount - drop_rule.recover_margin:
                active.discard(AlertKind.DROP)
        elif fall >= drop_rule.amount:
            active.add(AlertKind.DROP)
            alerts.append(
                Alert(
                    AlertKind.DROP,
                    f"customer sentiment dropped by {fall:.2f} within "
                    f"{drop_rule.within} messages, to {value:+.2f}",
                    drop_rule.alert_action(),
                    value,
                )
            )
    elif AlertKind.DROP in active:
        active.discard(AlertKind.DROP)

    return alerts, AlertState(frozenset(active))
