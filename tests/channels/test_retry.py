from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels.errors import PermanentSendError, TransientSendError
from channels.inbound import Channel
from channels.outbound import OutboundMessage, SendResult
from channels.retry import DeadLetter, Delivered, RetryPolicy, send_with_retry
from tests.channels.conftest import RecordingSleep

MSG = OutboundMessage("sms", "+14155550100", "hi", "msg_1")


class ScriptedSender:
    """Fails with the scripted errors, in order, then succeeds."""

    channel: Channel = "sms"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return SendResult("sms", "SM1", "queued")

    async def aclose(self) -> None:
        pass


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=1, multiplier=2, max_delay=5, jitter=0)
    assert [policy.delay(n, 0.0) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_jitter_only_shortens_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay=4, jitter=0.25)
    assert policy.delay(1, 0.0) == 4
    assert policy.delay(1, 0.999) == pytest.approx(3.001)
    assert all(3 <= policy.delay(1, r / 10) <= 4 for r in range(10))


def test_retry_after_is_a_floor() -> None:
    assert RetryPolicy(base_delay=1, jitter=0).delay(1, 0.0, retry_after=30) == 30


def test_policy_validation() -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(base_delay=10, max_delay=1)
    with pytest.raises(ValidationError):
        RetryPolicy(max_attempts=0)


async def test_transient_failures_then_success(no_sleep: RecordingSleep) -> None:
    sender = ScriptedSender(TransientSendError("a"), TransientSendError("b"))
    policy = RetryPolicy(base_delay=2, jitter=0.5)
    outcome = await send_with_retry(sender, MSG, policy, sleep=no_sleep, rand=lambda: 0.5)
    assert outcome == Delivered(SendResult("sms", "SM1", "queued"), 3)
    assert no_sleep.delays == [1.5, 3.0]


async def test_exhausted_retries_become_dead_letter(no_sleep: RecordingSleep) -> None:
    sender = ScriptedSender(*[TransientSendError("down", code="20500") for _ in range(10)])
    outcome = await send_with_retry(sender, MSG, RetryPolicy(max_attempts=4), sleep=no_sleep)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.attempts, outcome.permanent, outcome.error_code) == (4, False, "20500")
    assert outcome.message is MSG and "down" in outcome.reason
    assert sender.calls == 4 and len(no_sleep.delays) == 3


async def test_permanent_failure_is_not_retried(no_sleep: RecordingSleep) -> None:
    sender = ScriptedSender(PermanentSendError("opted out", code="21610"))
    outcome = await send_with_retry(sender, MSG, RetryPolicy(), sleep=no_sleep)
    assert outcome == DeadLetter(MSG, "opted out", 1, True, "21610")
    assert no_sleep.delays == []


async def test_unexpected_error_still_yields_dead_letter(no_sleep: RecordingSleep) -> None:
    outcome = await send_with_retry(
        ScriptedSender(KeyError("bug")), MSG, RetryPolicy(), sleep=no_sleep
    )
    assert isinstance(outcome, DeadLetter) and outcome.permanent and "bug" in outcome.reason
