"""Deciding when a bot's conversation goes to people, and what the person sees.

Everything that ends a bot's hold on a conversation lives here: a session is
``held`` until it is ``handed_off`` (to people, never back to a bot) or
``closed`` by the bot itself. A hand-off has one of four reasons:

- ``bot``: the bot asked for it (frame, HTTP call, or its answer);
- ``timeout``: a webhook or Rasa call took longer than the bot's ``timeout``;
- ``error``: the bot answered 4xx/5xx, refused the connection, sent something
  that is not its protocol, named an unknown queue, or (over websocket) was
  gone for longer than its ``grace``; or a conversation transferred to its
  queue found it unavailable (at capacity, disconnected);
- ``customer_request``: the customer asked for a person in words the bot's
  ``handoff_phrases`` list.

Pure: no I/O and no clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    BOT = "bot"
    TIMEOUT = "timeout"
    ERROR = "error"
    CUSTOMER_REQUEST = "customer_request"


class SessionState(StrEnum):
    HELD = "held"
    HANDED_OFF = "handed_off"
    CLOSED = "closed"


TRANSITIONS: Mapping[SessionState, frozenset[SessionState]] = {
    SessionState.HELD: frozenset({SessionState.HANDED_OFF, SessionState.CLOSED}),
    SessionState.HANDED_OFF: frozenset(),  # people have it now; never back to a bot
    SessionState.CLOSED: frozenset(),
}


class IllegalSessionTransition(Exception):
    def __init__(self, current: SessionState, target: SessionState) -> None:
        super().__init__(f"a bot session cannot go from {current.value!r} to {target.value!r}")
        self.current = current
        self.target = target


def check_session_transition(current: SessionState, target: SessionState) -> SessionState:
    if target not in TRANSITIONS[current]:
        raise IllegalSessionTransition(current, target)
    return target


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    level: int = 1


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """What a bot asks for when it hands off (all optional)."""

    queue: str | None = None
    skills: tuple[Skill, ...] | None = None
    priority: int | None = None
    summary: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handoff:
    """A decided hand-off: where the conversation goes and what the offer shows."""

    bot: str
    reason: Reason
    queue: str
    skills: tuple[Skill, ...] | None
    priority: int | None
    summary: str | None
    context: Mapping[str, Any]

    def offer_context(self) -> dict[str, Any]:
        """``context.handoff`` of the offer to a person (a fixed point of the protocol)."""
        return {
            "from": self.bot,
            "reason": self.reason.value,
            "summary": self.summary,
            "context": dict(self.context),
        }

    def to_record(self) -> dict[str, Any]:
        """What the store keeps (timeline event and bot session)."""
        return {
            **self.offer_context(),
            "queue": self.queue,
            "skills": None
            if self.skills is None
            else [{"name": s.name, "level": s.level} for s in self.skills],
            "priority": self.priority,
        }


def decide(
    bot: str,
    reason: Reason,
    request: HandoffRequest | None,
    current_queue: str,
    known_queues: Sequence[str] | frozenset[str] | set[str],
    *,
    detail: str | None = None,
) -> tuple[Handoff, str | None]:
    """The hand-off for ``request`` (None for an automatic one).

    Returns the hand-off and, when the request named an unknown queue, an
    error message: the conversation then still goes to people, in its current
    queue, with reason ``error`` (a customer is waiting), and the caller
    reports the error to the bot.
    """
    request = request or HandoffRequest()
    queue, error = current_queue, None
    if request.queue is not None:
        if request.queue in known_queues:
            queue = request.queue
        else:
            known = ", ".join(sorted(known_queues))
            error = f"unknown queue {request.queue!r}; expected one of {known}"
            reason = Reason.ERROR
    summary = request.summary
    if summary is None and detail is not None:
        summary = detail
    return (
        Handoff(
            bot=bot,
            reason=reason,
            queue=queue,
            skills=request.skills,
            priority=request.priority,
            summary=summary,
            context=dict(request.context),
        ),
        error,
    )


# -- the customer asks for a person ---------------------------------------------


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: "Opérateur" and "operateur" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _language(tag: str | None) -> str | None:
    return tag.split("-")[0].split("_")[0].lower() if tag else None


def asks_for_person(
    text: str, language: str | None, phrases: Mapping[str, Sequence[str]]
) -> str | None:
    """The phrase in ``text`` that asks for a person, or None.

    Phrases match as whole words. A known conversation language checks its
    own phrases and English ones; an unknown language checks them all.
    """
    lang = _language(language)
    if lang is not None and lang in phrases:
        candidates = [*phrases[lang], *(phrases.get("en", ()) if lang != "en" else ())]
    else:
        candidates = [p for group in phrases.values() for p in group]
    folded = _fold(text)
    for phrase in candidates:
        wanted = _fold(phrase).strip()
        if wanted and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", folded):
            return phrase
    return None


# -- a call to a bot that went wrong ----------------------------------------------


def failure(kind: str, detail: str) -> tuple[Reason, str]:
    """Reason and the agent-facing summary for a failed call to a bot.

    ``kind`` is ``timeout``, ``status`` (a non-2xx answer), ``connection``
    (refused, reset, DNS), ``invalid`` (not JSON, or not the bot protocol),
    ``gone`` (a websocket bot past its grace) or ``unavailable`` (a
    conversation transferred to the bot's queue found it at its capacity or
    disconnected).
    """
    if kind == "timeout":
        return Reason.TIMEOUT, f"The bot did not answer in time ({detail})."
    if kind in ("status", "connection", "invalid", "gone"):
        return Reason.ERROR, f"The bot failed: {detail}."
    if kind == "unavailable":
        return Reason.ERROR, f"The bot was unavailable: {detail}."
    raise ValueError(f"unknown failure kind {kind!r}")


CUSTOMER_ASKED = "The customer asked for a person."
