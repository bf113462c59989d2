"""Rolling conversation sentiment: an exponentially weighted score and its trend.

A pure state object, stored on the conversation as a dict. The customer's
messages feed one rolling value (what supervisors watch and alerts read); the
agent's feed another, for tone coaching. They are never mixed: an agent's
cheerful reply must not hide an angry customer. Bot and system messages feed
neither.

Each update returns a new state; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sentiment.errors import StateError

DEFAULT_ALPHA: Final = 0.3
DEFAULT_WINDOW: Final = 10


@dataclass(frozen=True, slots=True)
class RollingSentiment:
    """The EWMA of one side's scores, with the last `window` rolling values for trends.

    `value` is None before the first message. `history` holds the rolling
    value after each of the most recent messages, oldest first, ending with
    `value`.
    """

    value: float | None = None
    count: int = 0
    history: tuple[float, ...] = ()

    def update(
        self, score: float, *, alpha: float = DEFAULT_ALPHA, window: int = DEFAULT_WINDOW
    ) -> RollingSentiment:
        """Fold in one message's score: value <- alpha * score + (1 - alpha) * value.

        The first message sets the value outright, so a conversation opening
        angrily reads as angry at once rather than being pulled towards 0.
        """
        if not (0.0 < alpha <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not (math.isfinite(score) and -1.0 <= score <= 1.0):
            raise ValueError(f"score must be in [-1, 1], got {score}")
        value = score if self.value is None else alpha * score + (1.0 - alpha) * self.value
        return RollingSentiment(value, self.count + 1, (*self.history, value)[-window:])

    def trend(self, over: int = 3) -> float | None:
        """Rolling value now minus `over` messages ago (or the oldest kept); None with < 2 values.

        Negative means the conversation is souring.
        """
        if over < 1:
            raise ValueError(f"over must be >= 1, got {over}")
        if len(self.history) < 2:
            return None
        return self.history[-1] - self.history[-1 - min(over, len(self.history) - 1)]

    def drop(self, within: int) -> float:
        """How far the value fell from its peak over the last `within` messages (>= 0)."""
        if within < 1:
            raise ValueError(f"within must be >= 1, got {within}")
        if len(self.history) < 2:
            return 0.0
        recent = self.history[-1 - within :]
        return max(0.0, max(recent) - recent[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count, "history": list(self.history)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollingSentiment:
        """Read back `to_dict`'s output; raises StateError naming what is wrong."""
        try:
            value = data.get("value")
            count = data.get("count", 0)
            history = data.get("history", [])
            if value is not None and not isinstance(value, int | float):
                raise TypeError(f"value must be a number or null, got {value!r}")
            if not isinstance(count, int) or count < 0:
                raise TypeError(f"count must be a non-negative integer, got {count!r}")
            if not isinstance(history, list | tuple) or not all(
                isinstance(item, int | float) for item in history
            ):
                raise TypeError(f"history must be a list of numbers, got {history!r}")
            if (value is None) != (not history) or (value is not None and history[-1] != value):
                raise ValueError(
                    "history must be empty before the first message and end with value"
                )
        except (AttributeError, TypeError, ValueError) as error:
            raise StateError(f"bad rolling sentiment state {data!r}: {error}") from error
        return cls(None if value is None else float(value), count, tuple(map(float, history)))


#: Who wrote a message, in the protocol's words.
CUSTOMER: Final = "customer"
AGENT: Final = "agent"
_IGNORED_ROLES: Final = frozenset({"bot", "system"})


@dataclass(frozen=True, slots=True)
class ConversationSentiment:
    """A conversation's two rolling scores: the customer's (alerts) and the agent's (coaching)."""

    customer: RollingSentiment = field(default_factory=RollingSentiment)
    agent: RollingSentiment = field(default_factory=RollingSentiment)

    def observe(
        self,
        role: str,
        score: float,
        *,
        alpha: float = DEFAULT_ALPHA,
        window: int = DEFAULT_WINDOW,
    ) -> ConversationSentiment:
        """Fold in the score of a message written by `role` (customer|agent|bot|system).

        Bot and system messages leave the state unchanged.
        """
        if role == CUSTOMER:
            return ConversationSentiment(
                self.customer.update(score, alpha=alpha, window=window), self.agent
            )
        if role == AGENT:
            return ConversationSentiment(
                self.customer, self.agent.update(score, alpha=alpha, window=window)
            )
        if role in _IGNORED_ROLES:
            return self
        raise ValueError(f"unknown sender role {role!r}; expected customer, agent, bot or system")

    def to_dict(self) -> dict[str, Any]:
        return {"customer": self.customer.to_dict(), "agent": self.agent.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ConversationSentiment:
        """Read back `to_dict`'s output; None or {} is a fresh conversation."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise StateError(f"conversation sentiment must be an object, got {data!r}")
        return cls(
            RollingSentiment.from_dict(data.get("customer") or {}),
            RollingSentiment.from_dict(data.get("agent") or {}),
        )
