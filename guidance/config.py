"""``[[scripts]]``, ``[[macros]]`` and ``[[canned]]``: agent guidance in the config file.

Validated at start: templates and ``when`` expressions are parsed here, so a
typo names its key and column. Cross-references (a script step naming a
macro, a macro transferring to a queue) are checked by ``check_references``,
which ``gateway.settings.Settings`` calls once every section is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from guidance.errors import TemplateError
from guidance.templates import Template
from router.errors import ExpressionError
from router.expressions import Expression

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.\- ]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _template(value: str) -> str:
    try:
        Template.parse(value)
    except TemplateError as exc:
        raise ValueError(f"bad template: {exc}") from None
    return value


TemplateText = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_template)]


# -- macros --------------------------------------------------------------------


class SendAction(_Model):
    """Send a message to the customer, as the agent who runs the macro."""

    kind: Literal["send"]
    text: TemplateText


class SetAction(_Model):
    """Set a variable in the conversation's context (a string value is a template)."""

    kind: Literal["set"]
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][\w-]*$")]
    value: Any

    @field_validator("value")
    @classmethod
    def _value(cls, value: Any) -> Any:
        return _template(value) if isinstance(value, str) else value


class TransferAction(_Model):
    kind: Literal["transfer"]
    queue: Annotated[str, Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class CloseAction(_Model):
    kind: Literal["close"]


Action = Annotated[
    SendAction | SetAction | TransferAction | CloseAction, Field(discriminator="kind")
]


class MacroConfig(_Model):
    name: Name
    title: Annotated[str, Field(max_length=200)] | None = None
    actions: Annotated[list[Action], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _ends_with_handover(self) -> Self:
        # After a transfer or close the agent no longer holds the conversation.
        for i, action in enumerate(self.actions[:-1]):
            if isinstance(action, TransferAction | CloseAction):
                raise ValueError(f"actions[{i}]: a {action.kind} must be the macro's last action")
        return self

    @property
    def label(self) -> str:
        return self.title or self.name


# -- scripts -------------------------------------------------------------------


class TextStep(_Model):
    """Text for the agent to read (or say)."""

    kind: Literal["text"]
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class CheckStep(_Model):
    """A box for the agent to tick."""

    kind: Literal["check"]
    text: Annotated[str, Field(min_length=1, max_length=1000)]


class MacroStep(_Model):
    """Run a macro (by name) when the agent ticks it."""

    kind: Literal["macro"]
    macro: Name
    text: Annotated[str, Field(max_length=1000)] | None = None


Step = Annotated[TextStep | CheckStep | MacroStep, Field(discriminator="kind")]


class ScriptConfig(_Model):
    name: Name
    title: Annotated[str, Field(max_length=200)] | None = None
    when: str | None = None
    """Expression over ``queue``, ``channel``, ``intent``, ``language``,
    ``context.*``, ``prechat.*`` and ``customer.*``; none: every conversation."""
    steps: Annotated[list[Step], Field(min_length=1, max_length=100)]
    _condition: Expression | None = PrivateAttr(default=None)

    @field_validator("when")
    @classmethod
    def _check_when(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Expression(value)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _parse_when(self) -> Self:
        if self.when is not None:
            self._condition = Expression(self.when)
        return self

    def matches(self, facts: dict[str, Any]) -> bool:
        return self._condition is None or self._condition.evaluate(facts)


# -- canned responses ----------------------------------------------------------


class CannedConfig(_Model):
    name: Name
    title: Annotated[str, Field(max_length=200)] | None = None
    text: TemplateText
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list)


# -- cross-references ----------------------------------------------------------


def _unique(kind: str, names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(f"{kind}[{i}].name: {name!r} is defined twice")
        seen.add(name)
    return problems


def check_references(
    scripts: Sequence[ScriptConfig],
    macros: Sequence[MacroConfig],
    canned: Sequence[CannedConfig],
    queues: Iterable[str],
) -> list[str]:
    """Problems with names across sections, each naming its key: duplicate
    names, a script step naming an unknown macro, a transfer to an unknown
    queue. Empty when all is well."""
    problems = _unique("scripts", (s.name for s in scripts))
    problems += _unique("macros", (m.name for m in macros))
    problems += _unique("canned", (c.name for c in canned))
    known_macros = {m.name for m in macros}
    known_queues = set(queues)
    for i, script in enumerate(scripts):
        for j, step in enumerate(script.steps):
            if isinstance(step, MacroStep) and step.macro not in known_macros:
                known = ", ".join(sorted(known_macros)) or "none defined"
                problems.append(
                    f"scripts[{i}].steps[{j}].macro: unknown macro {step.macro!r} (known: {known})"
                )
    for i, macro in enumerate(macros):
        for j, action in enumerate(macro.actions):
            if isinstance(action, TransferAction) and action.queue not in known_queues:
                known = ", ".join(sorted(known_queues))
                problems.append(
                    f"macros[{i}].actions[{j}].queue: unknown queue {action.queue!r}"
                    f" (known: {known})"
                )
    return problems
