"""The sign-in throttle's counts in Redis: the same decisions as the pure
throttle, keys that expire, and the process's own counts when Redis is gone."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from gateway.login_limits import PREFIX, LoginLimits, RedisLoginLimits, login_limits
from gateway.ratelimit import LoginThrottle
from gateway.settings import Security
from tests.support.services import redis_url

# Waits far longer than the test runs: Redis's clock moves on, decisions do not.
SECURITY = Security.model_validate(
    {
        "login_address_failures": 6,
        "login_address_window": "100m",
        "login_free_failures": 3,
        "login_backoff": "100s",
        "login_backoff_max": "1000s",
    }
)


@pytest.fixture
async def shared() -> AsyncIterator[LoginLimits]:
    limits = login_limits(SECURITY, redis_url())
    assert isinstance(limits, RedisLoginLimits)
    yield limits
    await limits.close()


def pure() -> LoginThrottle:
    return LoginThrottle(
        address_burst=SECURITY.login_address_failures,
        address_window=SECURITY.login_address_window,
        free_failures=SECURITY.login_free_failures,
        backoff=SECURITY.login_backoff,
        backoff_max=SECURITY.login_backoff_max,
    )


async def test_redis_decides_as_the_pure_throttle(shared: LoginLimits) -> None:
    run = uuid.uuid4().hex[:8]
    addresses = [f"192.0.2.{i}-{run}" for i in range(3)]
    names = [f"User{i}-{run}" for i in range(4)]
    reference = pure()
    rng = random.Random(16)
    for step in range(150):
        address, name = rng.choice(addresses), rng.choice(names)
        if rng.random() < 0.3:
            name = name.upper()  # the same username, differently cased
        expected = reference.check(address, name, 0.0)
        got = await shared.check(address, name)
        assert (got and got.scope) == (expected and expected.scope), step
        if expected is not None:
            assert got is not None and got.retry_after == pytest.approx(expected.retry_after, abs=1)
            continue
        if rng.random() < 0.15:
            reference.succeeded(name)
            await shared.succeeded(name)
            continue
        expected = reference.failed(address, name, 0.0)
        got = await shared.failed(address, name)
        assert (got and got.scope) == (expected and expected.scope), step


async def test_counts_expire_once_they_no_longer_matter(shared: LoginLimits) -> None:
    run = uuid.uuid4().hex[:8]
    await shared.failed(f"198.51.100.1-{run}", f"dave-{run}")
    client = redis.Redis.from_url(redis_url())
    # One failure is back in the bucket after window / burst seconds.
    address_ttl = client.pttl(f"{PREFIX}address:198.51.100.1-{run}")
    assert 0 < address_ttl <= (6000 / 6 + 1) * 1000
    assert 86_000 < client.ttl(f"{PREFIX}user:dave-{run}") <= 86_400
    await shared.succeeded(f"DAVE-{run}")
    assert not client.exists(f"{PREFIX}user:dave-{run}")


async def test_without_redis_the_process_counts_on_its_own() -> None:
    limits = login_limits(SECURITY, "redis://127.0.0.1:1/0")
    try:
        assert await limits.failed("192.0.2.9", "erin") is None
        assert await limits.failed("192.0.2.9", "erin") is None
        started = await limits.failed("192.0.2.9", "erin")
        assert started is not None and started.scope == "account"
        throttled = await limits.check("192.0.2.9", "Erin")
        assert throttled is not None and throttled.scope == "account"
        await limits.succeeded("erin")
        assert await limits.check("192.0.2.9", "erin") is None
    finally:
        await limits.close()
