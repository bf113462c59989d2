"""The ``[[bots]]`` section of the config file, validated at start.

A bot is an account (``name`` is its username) that takes conversations
entering its ``queues`` before any person does. It connects in one of three
ways: over ``/ws/agent`` (neither ``webhook`` nor ``rasa`` set), as an
outgoing webhook (``webhook`` with ``secret``), or as a Rasa REST channel
(``rasa``). Whether its queues exist is checked by ``check_bots`` against
the routing config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from durations import Seconds

DEFAULT_HANDOFF_PHRASES: Mapping[str, tuple[str, ...]] = {
    "en": (
        "agent",
        "human",
        "a person",
        "real person",
        "talk to a person",
        "speak to someone",
        "representative",
        "operator",
    ),
    "de": ("mitarbeiter", "mensch", "menschen", "berater", "person sprechen"),
    "fr": ("humain", "conseiller", "une personne", "un agent", "opérateur"),
    "es": ("persona", "humano", "agente", "operador", "asesor"),
    "it": ("operatore", "persona", "umano", "assistente"),
    "pt": ("atendente", "humano", "pessoa", "agente"),
    "nl": ("medewerker", "mens", "persoon"),
}
"""Phrases that, as whole words in a customer's message, mean "a person, please"."""


class BotConfig(BaseModel):
    """One ``[[bots]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")]
    """The bot account's username (created at start if missing)."""
    queues: Annotated[list[str], Field(min_length=1)]
    """Conversations entering these queues go to the bot first."""
    webhook: Annotated[str, Field(pattern=r"^https?://")] | None = None
    secret: Annotated[str, Field(min_length=8)] | None = None
    """Signs webhook requests (``X-Switchboard-Signature``)."""
    rasa: Annotated[str, Field(pattern=r"^https?://")] | None = None
    timeout: Seconds = 10.0
    """How long a webhook or Rasa call may take before the conversation goes to people."""
    capacity: Annotated[int, Field(ge=1)] | None = None
    """Most conversations held at once; beyond it new ones go straight to people."""
    grace: Seconds = 30.0
    """How long a websocket bot may be gone before its conversations go to people."""
    handoff_phrases: dict[str, list[str]] = Field(default_factory=dict)
    """Per language; a language given here replaces its defaults."""

    @model_validator(mode="after")
    def _one_connector(self) -> Self:
        if self.webhook is not None and self.rasa is not None:
            raise ValueError("set at most one of 'webhook' and 'rasa'")
        if self.webhook is not None and not self.secret:
            raise ValueError("'secret' is required with 'webhook' (it signs the requests)")
        if self.secret is not None and self.webhook is None:
            raise ValueError("'secret' is only used with 'webhook'")
        return self

    @property
    def connector(self) -> str:
        """``webhook``, ``rasa`` or ``websocket``."""
        if self.webhook is not None:
            return "webhook"
        if self.rasa is not None:
            return "rasa"
        return "websocket"

    def phrases(self) -> dict[str, tuple[str, ...]]:
        """The hand-off phrases in effect: defaults, with configured languages replaced."""
        merged = dict(DEFAULT_HANDOFF_PHRASES)
        merged.update({lang: tuple(p) for lang, p in self.handoff_phrases.items()})
        return merged


def check_bots(bots: Iterable[BotConfig], queues: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the bot and key when a bot names an unknown
    queue, two bots share a name, or two bots claim the same queue."""
    known = set(queues)
    names: set[str] = set()
    claimed: dict[str, str] = {}
    for index, bot in enumerate(bots):
        where = f"bots[{index}] ({bot.name!r})"
        if bot.name in names:
            raise ValueError(f"{where}.name: another bot is already named {bot.name!r}")
        names.add(bot.name)
        for queue in bot.queues:
            if queue not in known:
                raise ValueError(
                    f"{where}.queues: {queue!r} is not a routing queue"
                    f" (known: {', '.join(sorted(known))})"
                )
            if queue in claimed:
                raise ValueError(
                    f"{where}.queues: queue {queue!r} already goes to bot {claimed[queue]!r}"
                )
            claimed[queue] = bot.name
