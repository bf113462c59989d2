"""Where the sign-in throttle keeps its counts: in this process, or in Redis
so that every node and worker shares one budget per username and address.

``LoginThrottle`` (gateway/ratelimit.py) holds the rules. With Redis, the same
rules run as one Lua script per sign-in, so a check or a counted failure is
atomic across nodes, and time is Redis's clock (nodes' monotonic clocks are
not comparable). Keys expire once they no longer matter: an address's bucket
when it has filled up again, a username's count a day after its last
failure (or ``2 * login_backoff_max``, if longer). If Redis cannot be
reached, the counts of this process take over until it can.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from gateway.ratelimit import LoginThrottle, Throttled
from gateway.settings import Security

log = logging.getLogger(__name__)

PREFIX = "switchboard:login:"
ACCOUNT_TTL_MIN = 86_400

# KEYS: the address's bucket, the username's failures.
# ARGV: rate, burst, free failures, backoff, backoff max, "1" to count a
# failure first (else only check), the username key's TTL in seconds.
# Returns nil, or {scope, seconds to wait}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local free, backoff, backoff_max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if bucket[1] then
  tokens = math.min(burst, tonumber(bucket[1]) + (now - tonumber(bucket[2])) * rate)
end
local account = redis.call('HMGET', KEYS[2], 'failures', 'last')
local failures, last = tonumber(account[1]) or 0, tonumber(account[2]) or 0
if ARGV[6] == '1' then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
  failures, last = failures + 1, now
  redis.call('HSET', KEYS[2], 'failures', failures, 'last', tostring(now))
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
end
if tokens < 1 then
  return {'address', tostring((1 - tokens) / rate)}
end
local over = failures - free
if over >= 0 then
  local wait = last + math.min(backoff * 2 ^ math.min(over, 60), backoff_max) - now
  if wait > 0 then
    return {'account', tostring(wait)}
  end
end
return false
"""


class LoginLimits:
    """The throttle's counts in this process (one node, one worker)."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self.local = throttle

    async def check(self, address: str, username: str) -> Throttled | None:
        """Whether a sign-in may be tried now; ``Throttled`` says how long to wait."""
        return self.local.check(address, username, time.monotonic())

    async def failed(self, address: str, username: str) -> Throttled | None:
        """Count a failure; the throttle it starts, if the next try must wait."""
        return self.local.failed(address, username, time.monotonic())

    async def succeeded(self, username: str) -> None:
        self.local.succeeded(username)

    async def close(self) -> None:
        return None


class RedisLoginLimits(LoginLimits):
    """The throttle's counts in Redis, shared by every node."""

    def __init__(self, url: str, security: Security, throttle: LoginThrottle) -> None:
        super().__init__(throttle)
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url)
        self._script = self._redis.register_script(_SCRIPT)
        self._args = [
            repr(security.login_address_failures / security.login_address_window),
            str(security.login_address_failures),
            str(security.login_free_failures),
            repr(float(security.login_backoff)),
            repr(float(security.login_backoff_max)),
        ]
        self._account_ttl = str(max(ACCOUNT_TTL_MIN, int(2 * security.login_backoff_max)))

    async def check(self, address: str, username: str) -> Throttled | None:
        try:
            return await self._run(address, username, count=False)
        except RedisError as exc:
            log.warning("sign-in limits: Redis unavailable (%s); counting in this process", exc)
            return await super().check(address, username)

    async def failed(self, address: str, username: str) -> Throttled | None:
        try:
            return await self._run(address, username, count=True)
        except RedisError as exc:
            log.warning("sign-in limits: Redis unavailable (%s); counting in this process", exc)
            return await super().failed(address, username)

    async def succeeded(self, username: str) -> None:
        try:
            await self._redis.delete(_account_key(username))
        except RedisError as exc:
            log.warning("sign-in limits: Redis unavailable (%s)", exc)
        await super().succeeded(username)

    async def close(self) -> None:
        await self._redis.aclose()

    async def _run(self, address: str, username: str, *, count: bool) -> Throttled | None:
        keys = [PREFIX + "address:" + address, _account_key(username)]
        args = [*self._args, "1" if count else "0", self._account_ttl]
        reply = await self._script(keys=keys, args=args)
        if reply is None:
            return None
        scope, seconds = reply
        return Throttled(float(seconds), scope.decode())


def _account_key(username: str) -> str:
    return PREFIX + "user:" + LoginThrottle.key(username)


def login_limits(security: Security, redis_url: str | None) -> LoginLimits:
    """The sign-in limits for this config: shared over Redis when there is one."""
    throttle = LoginThrottle(
        address_burst=security.login_address_failures,
        address_window=security.login_address_window,
        free_failures=security.login_free_failures,
        backoff=security.login_backoff,
        backoff_max=security.login_backoff_max,
    )
    if redis_url:
        return RedisLoginLimits(redis_url, security, throttle)
    return LoginLimits(throttle)


__all__ = ["LoginLimits", "RedisLoginLimits", "login_limits"]
