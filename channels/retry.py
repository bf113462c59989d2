"""Retrying a send with exponential backoff and jitter, ending in a result or a dead letter.

A message is never dropped: ``send_with_retry`` returns either ``Delivered``
or a ``DeadLetter`` that says why and after how many attempts, for the
gateway to store and show. Sleep and randomness are injected so tests (and a
simulator) run without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.errors import PermanentSendError, TransientSendError
from channels.outbound import OutboundMessage, Sender, SendResult

logger = logging.getLogger(__name__)


class RetryPolicy(BaseModel):
    """How hard to try. Delay before retry ``n`` (1-based) is
    ``min(max_delay, base_delay * multiplier ** (n - 1))``, less up to
    ``jitter`` of itself at random (so many failing senders do not retry in
    lockstep), and never less than a provider's ``retry_after``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=5, ge=1, le=100)
    base_delay: float = Field(default=1.0, ge=0)
    max_delay: float = Field(default=60.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _delays_ordered(self) -> RetryPolicy:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self

    def delay(self, retry: int, rand: float, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        wait = ceiling * (1 - self.jitter * rand)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


@dataclass(frozen=True, slots=True)
class Delivered:
    result: SendResult
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message we gave up on, with enough to show an agent and to retry by hand."""

    message: OutboundMessage
    reason: str
    attempts: int
    permanent: bool
    error_code: str | None = None


async def send_with_retry(
    sender: Sender,
    msg: OutboundMessage,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> Delivered | DeadLetter:
    """Send ``msg``, retrying transient failures per ``policy``.

    A permanent failure ends at once; an unexpected exception from a sender is
    treated as permanent too (retrying a bug does not help) but still yields a
    dead letter rather than losing the message.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await sender.send(msg)
        except TransientSendError as exc:
            if attempt >= policy.max_attempts:
                return DeadLetter(msg, f"gave up: {exc}", attempt, False, exc.code)
            wait = policy.delay(attempt, rand(), exc.retry_after)
            logger.warning(
                "send %s attempt %d failed (%s); retrying in %.2fs",
                msg.message_id,
                attempt,
                exc,
                wait,
            )
            await sleep(wait)
        except PermanentSendError as exc:
            return DeadLetter(msg, str(exc), attempt, True, exc.code)
        except Exception as exc:
            logger.exception("sender %r failed unexpectedly on %s", sender, msg.message_id)
            return DeadLetter(msg, f"unexpected error: {exc!r}", attempt, True)
        else:
            return Delivered(result, attempt)
