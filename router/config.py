"""The ``[routing]`` section of the config file, validated at start.

``RoutingConfig()`` with no arguments is a working setup: one queue named
``default`` that every agent serves, three conversations per channel per
agent. Intake-rule conditions are parsed here, so a bad rule fails config
loading with the rule's name and the column of the problem.
"""

import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from presence.config import PresenceSettings
from presence.statuses import StatusCatalog
from router.assignment import ALIASES, Method
from router.capacity import Capacity
from router.errors import ConfigError, ExpressionError
from router.expressions import Expression
from router.items import CHANNELS, MAX_LEVEL, MIN_LEVEL, Channel
from router.overflow import OverflowAction
from router.skills import MatchMode

Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]


def _method(value: Any) -> Any:
    return ALIASES.get(value, value) if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapacityProfile(_Model):
    """How much work an agent holds at once.

    ``channels`` gives count limits per channel; ``other`` is the count limit
    for channels not listed (None: those channels are refused unless
    ``costs`` names them). ``units`` with ``costs`` adds a shared budget.
    """

    channels: dict[Channel, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    other: Annotated[int, Field(ge=0)] | None = None
    units: Annotated[int, Field(gt=0)] | None = None
    costs: dict[Channel, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self._accepted():
            raise ValueError("the profile accepts no channel: set channels, other or costs")
        if self.costs and self.units is None:
            raise ValueError("costs need units: set units = <budget>")
        if self.units is not None:
            accepted = self._accepted()
            missing = [ch for ch in CHANNELS if ch in accepted and ch not in self.costs]
            if missing:
                raise ValueError(f"units are set but these channels have no cost: {missing}")
            too_big = [ch for ch, c in self.costs.items() if c > self.units]
            if too_big:
                raise ValueError(f"cost above the whole budget of {self.units} units: {too_big}")
        return self

    def _accepted(self) -> frozenset[Channel]:
        if self.other is not None:
            return frozenset(CHANNELS)
        return frozenset(self.channels) | frozenset(self.costs)

    def resolve(self) -> Capacity:
        limits: dict[Channel, int | None] = {}
        for ch in CHANNELS:
            limits[ch] = self.channels.get(ch, self.other)
        accepted = frozenset(ch for ch in self._accepted() if limits[ch] != 0)
        return Capacity(limits, accepted, self.units, dict(self.costs))


class OverflowStep(_Model):
    after: Annotated[float, Field(ge=0)] | None = None
    if_no_agent: bool = False
    action: OverflowAction
    by: Annotated[int, Field(ge=1, le=MAX_LEVEL - 1)] = 1
    queue: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.after is None and not self.if_no_agent:
            raise ValueError("an overflow step needs after = <seconds> or if_no_agent = true")
        moves = self.action in (OverflowAction.MOVE, OverflowAction.BOT)
        if moves and self.queue is None:
            raise ValueError(f"overflow action {self.action.value!r} needs queue = <name>")
        if not moves and self.queue is not None:
            raise ValueError(f"overflow action {self.action.value!r} takes no queue")
        return self


class QueueConfig(_Model):
    # Statuses whose agents take work from this queue; None: every status
    # that accepts work.
    presences: list[str] | None = None
    method: Annotated[Method, BeforeValidator(_method)] = Method.LONGEST_IDLE
    match: MatchMode = MatchMode.EXACT
    offer_timeout: Annotated[float, Field(gt=0)] | None = None
    # Seconds of waiting worth one priority level; 0 turns aging off.
    # None: the [routing.aging] default.
    aging: Annotated[float, Field(ge=0)] | None = None
    overflow: list[OverflowStep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Self:
        last = -1.0
        for i, step in enumerate(self.overflow):
            if step.after is not None:
                if step.after < last:
                    raise ValueError(f"overflow step {i + 1}: after must not decrease")
                last = step.after
        return self


class IntakeRule(_Model):
    """If ``when`` holds on arrival, set queue/priority and add skills."""

    name: str = Field(min_length=1)
    when: str
    queue: str | None = None
    priority: int | None = None
    skills: dict[str, Level] = Field(default_factory=dict)
    optional_skills: dict[str, Level] = Field(default_factory=dict)
    # Stop evaluating later rules once this one matched.
    stop: bool = False

    _condition: Expression = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> Self:
        try:
            self._condition = Expression(self.when)
        except ExpressionError as exc:
            raise ValueError(
                f"intake rule {self.name!r}: {exc.message} at column {exc.column} in {self.when!r}"
            ) from None
        return self

    @property
    def condition(self) -> Expression:
        return self._condition


class AgingConfig(_Model):
    # +1 effective priority per this many seconds waited; 0 turns aging off.
    seconds_per_level: Annotated[float, Field(ge=0)] = 60.0


class OfferConfig(_Model):
    timeout: Annotated[float, Field(gt=0)] = 30.0
    # Offers an agent may have open at once (each reserves capacity).
    per_agent: Annotated[int, Field(ge=1)] = 1
    # Seconds a decline (reject or timeout) keeps the item from that agent.
    decline_memory: Annotated[float, Field(ge=0)] = 120.0


def _default_queues() -> dict[str, QueueConfig]:
    return {"default": QueueConfig()}


def _default_capacity() -> dict[str, CapacityProfile]:
    return {"standard": CapacityProfile(other=3)}


class RoutingConfig(_Model):
    """The whole ``[routing]`` section."""

    # Declared skill names; when non-empty every skill used must be listed,
    # which catches typos in rules.
    skills: list[str] = Field(default_factory=list)
    default_queue: str = "default"
    default_capacity: str = "standard"
    queues: dict[str, QueueConfig] = Field(default_factory=_default_queues)
    capacity: dict[str, CapacityProfile] = Field(default_factory=_default_capacity)
    intake: list[IntakeRule] = Field(default_factory=list)
    aging: AgingConfig = Field(default_factory=AgingConfig)
    offers: OfferConfig = Field(default_factory=OfferConfig)
    presence: PresenceSettings = Field(default_factory=PresenceSettings)

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        if self.default_queue not in self.queues:
            raise ValueError(
                f"default_queue {self.default_queue!r} is not a configured queue"
                f" (queues: {sorted(self.queues)})"
            )
        if self.default_capacity not in self.capacity:
            raise ValueError(
                f"default_capacity {self.default_capacity!r} is not a capacity profile"
                f" (profiles: {sorted(self.capacity)})"
            )
        catalog = StatusCatalog(self.presence.custom_pairs())
        declared = set(self.skills)
        for name, queue in self.queues.items():
            for status in queue.presences or ():
                if status not in catalog:
                    raise ValueError(f"queue {name!r}: unknown presence {status!r}")
                if not catalog.accepts(status):
                    raise ValueError(
                        f"queue {name!r}: presence {status!r} does not accept work;"
                        " mark it accepts_work = true or remove it"
                    )
            for i, step in enumerate(queue.overflow):
                if step.queue is not None and step.queue not in self.queues:
                    raise ValueError(
                        f"queue {name!r}, overflow step {i + 1}: unknown queue {step.queue!r}"
                    )
        names: set[str] = set()
        for rule in self.intake:
            if rule.name in names:
                raise ValueError(f"intake rule {rule.name!r} is defined twice")
            names.add(rule.name)
            if rule.queue is not None and rule.queue not in self.queues:
                raise ValueError(f"intake rule {rule.name!r}: unknown queue {rule.queue!r}")
            if declared:
                unknown = (set(rule.skills) | set(rule.optional_skills)) - declared
                if unknown:
                    raise ValueError(
                        f"intake rule {rule.name!r}: undeclared skills {sorted(unknown)}"
                    )
        return self

    def queue_aging(self, queue: str) -> float:
        own = self.queues[queue].aging
        return self.aging.seconds_per_level if own is None else own

    def queue_offer_timeout(self, queue: str) -> float:
        own = self.queues[queue].offer_timeout
        return self.offers.timeout if own is None else own

    def queue_presences(self, queue: str) -> frozenset[str]:
        own = self.queues[queue].presences
        if own is None:
            return StatusCatalog(self.presence.custom_pairs()).accepting
        return frozenset(own)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "RoutingConfig":
        """Validate a parsed ``[routing]`` table; raises ``ConfigError``."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_format(exc)) from None

    @classmethod
    def from_toml(cls, text: str) -> "RoutingConfig":
        """Validate the ``[routing]`` table of a TOML document (absent: defaults)."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config is not valid TOML: {exc}") from None
        return cls.from_mapping(doc.get("routing", {}))


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in ("routing", *err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "invalid [routing] config:\n  " + "\n  ".join(lines)
