"""``[[proactive]]`` rules, validated at start.

```toml
[[proactive]]
name = "pricing help"
when = "page_url contains '/pricing' and seconds_on_page >= 30 and agents_available"
message = "Questions about our plans? We're here to help."
queue = "sales"                # optional: agents_available looks here, chats go here
calendar = "office"            # optional: `open` reads these business hours
```

``when`` is the intake-rule expression language over ``page_url``,
``seconds_on_page``, ``visits``, ``language``, ``variables.*`` (what the
site passes) and the service variables ``agents_available`` and ``open``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from router.errors import ExpressionError
from router.expressions import Expression


class ProactiveRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^/]+$")]
    when: Annotated[str, Field(min_length=1)]
    message: Annotated[str, Field(min_length=1, max_length=1000)]
    queue: str | None = None
    calendar: str | None = None

    _condition: Expression = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> Self:
        try:
            self._condition = Expression(self.when)
        except ExpressionError as exc:
            raise ValueError(
                f"proactive rule {self.name!r}: {exc.message} at column {exc.column}"
                f" in {self.when!r}"
            ) from None
        return self

    @property
    def condition(self) -> Expression:
        return self._condition


def check_rules(
    rules: Sequence[ProactiveRule], queues: Collection[str], calendars: Collection[str] = ()
) -> None:
    """Names are unique, queues and calendars exist; raises ``ValueError``
    naming the rule."""
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ValueError(f"proactive rule {rule.name!r} is defined twice")
        seen.add(rule.name)
        if rule.queue is not None and rule.queue not in queues:
            raise ValueError(
                f"proactive rule {rule.name!r}: unknown queue {rule.queue!r}"
                f" (queues: {sorted(queues)})"
            )
        if rule.calendar is not None and rule.calendar not in calendars:
            raise ValueError(
                f"proactive rule {rule.name!r}: unknown calendar {rule.calendar!r}"
                f" (calendars: {sorted(calendars)})"
            )
