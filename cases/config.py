"""Configuration of cases: ``[cases]`` and ``[[record_rules]]`` (see docs/service.md).

Validated at start; a bad value names its key (the Settings machinery adds
the file). Conditions use the intake-rule expression language
(``router.expressions``) and are compiled here, once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from cases.entitlements import Behaviour
from cases.model import KNOWN_FIELDS, Priority
from cases.stages import ProcessFlow, Stage
from durations import Duration
from router.errors import ExpressionError
from router.expressions import Expression

Channel = Literal["email", "sms", "messenger", "whatsapp", "telegram", "webchat"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _compile(text: str | None, what: str) -> Expression | None:
    if text is None:
        return None
    try:
        return Expression(text)
    except ExpressionError as exc:
        raise ValueError(f"{what}: {exc.message} at column {exc.column} in {text!r}") from None


class StageConfig(_Model):
    name: str = Field(min_length=1, max_length=40)
    required: list[str] = Field(default_factory=list)
    """Case fields that must be set before the case leaves this stage forward:
    title, description, customer, product, priority, origin, owner, parent."""

    @model_validator(mode="after")
    def _known(self) -> Self:
        unknown = [f for f in self.required if f not in KNOWN_FIELDS]
        if unknown:
            raise ValueError(
                f"stage {self.name!r}: unknown field(s) {unknown}; expected some of "
                f"{sorted(KNOWN_FIELDS)}"
            )
        return self


class AlertRule(_Model):
    """Turns a device alert into a case when ``when`` holds (on the alert's
    device_id, alert_type, severity, description, customer_id, count)."""

    name: str = Field("alert rule", min_length=1)
    when: str = "true"
    priority: Priority = Priority.HIGH
    _condition: Expression = PrivateAttr()

    @model_validator(mode="after")
    def _parse(self) -> Self:
        condition = _compile(self.when, f"alert rule {self.name!r}")
        assert condition is not None
        self._condition = condition
        return self

    @property
    def condition(self) -> Expression:
        return self._condition


def _default_stages() -> list[StageConfig]:
    return [
        StageConfig(name="identify", required=["customer"]),
        StageConfig(name="research", required=["description"]),
        StageConfig(name="resolve"),
    ]


class CasesConfig(_Model):
    """``[cases]``."""

    stages: list[StageConfig] = Field(default_factory=_default_stages)
    entitlement_exhausted: Behaviour = "warn"
    """What happens when a new case's only fitting entitlement is used up or
    expired: ``warn`` (attach it; the agent sees its state) or ``refuse``."""
    follow_up: Literal["reopen", "new_case"] = "reopen"
    """A customer's message on a resolved case within ``follow_up_window``:
    reopen the case, or open a new case linked to it as a follow-up. After
    the window it is always a new linked case."""
    follow_up_window: Duration = timedelta(days=7)
    alert_window: Duration = timedelta(days=1)
    """Repeats of one device and alert type count on the open alert if the
    last one came within this window; later, a new alert starts."""
    alert_rules: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _flow(self) -> Self:
        try:
            self.flow()
        except ValueError as exc:
            raise ValueError(f"stages: {exc}") from None
        return self

    def flow(self) -> ProcessFlow:
        return ProcessFlow(tuple(Stage(s.name, tuple(s.required)) for s in self.stages))


class RecordRule(_Model):
    """``[[record_rules]]``: a new conversation on ``channel`` opens a case when
    ``when`` holds (on channel, subject, text, from, to, customer)."""

    channel: Channel
    when: str | None = None
    action: Literal["create_case"] = "create_case"
    priority: Priority = Priority.NORMAL
    _condition: Expression | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _parse(self) -> Self:
        self._condition = _compile(self.when, f"record rule for {self.channel}")
        return self

    @property
    def condition(self) -> Expression | None:
        return self._condition
