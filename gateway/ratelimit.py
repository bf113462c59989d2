"""Rate limits: a token bucket per connection or client address (bursts are
fine, floods are not), a cap on what one address holds open at once, and the
sign-in throttle (per client address and per account).

Pure: every method takes ``now`` (monotonic seconds); nothing here reads a
clock or does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token at time ``now`` (seconds); False when empty."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def refund(self) -> None:
        """Give back a token taken for something that was then not done."""
        self._tokens = min(self.burst, self._tokens + 1.0)

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now); takes nothing."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        """Take a token whether or not one is there (the bucket may go below zero)."""
        self._refill(now)
        self._tokens -= 1.0

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst


class AddressBuckets:
    """A token bucket per client address (the knowledge widget's endpoints).

    At most ``max_addresses`` are kept: past that, buckets that have filled
    up again are dropped, then the oldest.
    """

    def __init__(self, rate: float, burst: int, max_addresses: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max = max_addresses
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, address: str, now: float) -> bool:
        """Take one token from ``address``'s bucket at ``now``; False when empty."""
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate, self.burst)
            if len(self._buckets) > self._max:
                for old in [a for a, b in self._buckets.items() if b.full(now)]:
                    del self._buckets[old]
                while len(self._buckets) > self._max:
                    del self._buckets[next(iter(self._buckets))]
                self._buckets[address] = bucket
        return bucket.allow(now)

    def retry_after(self, address: str, now: float) -> float:
        """Seconds until ``address`` may go again (0: now); takes nothing."""
        bucket = self._buckets.get(address)
        return 0.0 if bucket is None else bucket.wait(now)


class AddressSlots:
    """At most ``limit`` things (websockets) held at once per client address.

    Every ``acquire`` that returned True must be matched by one ``release``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        """Take a slot for ``address``; False (nothing taken) when all are held."""
        held = self._held.get(address, 0)
        if held >= self.limit:
            return False
        self._held[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self._held.get(address, 0) - 1
        if held > 0:
            self._held[address] = held
        else:
            self._held.pop(address, None)

    def held(self, address: str) -> int:
        return self._held.get(address, 0)


@dataclass
class _Account:
    failures: int = 0
    last: float = 0.0


@dataclass(frozen=True, slots=True)
class Throttled:
    """A sign-in refused before the password is looked at."""

    retry_after: float
    scope: str
    """``address`` or ``account``."""


class LoginThrottle:
    """Failed sign-ins, counted per client address and per username.

    - Per address, a token bucket that only failures drain: ``address_burst``
      failures in a row, then one per ``address_window / address_burst``.
    - Per username (whether or not the account exists, so a refusal tells
      nothing about existence), after ``free_failures`` failures in a row each
      further try waits ``backoff``, doubling per failure up to
      ``backoff_max``. A success resets the username's count.

    A throttled try is refused before the password is checked, even a right
    one: otherwise guessing would just go on at full speed. At most
    ``max_keys`` addresses and usernames are tracked; the oldest are
    forgotten first.
    """

    def __init__(
        self,
        *,
        address_burst: int,
        address_window: float,
        free_failures: int,
        backoff: float,
        backoff_max: float,
        max_keys: int = 100_000,
    ) -> None:
        self._burst = address_burst
        self._rate = address_burst / address_window
        self._free = free_failures
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._max_keys = max_keys
        self._addresses: dict[str, TokenBucket] = {}
        self._accounts: dict[str, _Account] = {}

    @staticmethod
    def key(username: str) -> str:
        """What a username is counted under: case and surrounding spaces do not matter."""
        return username.strip().casefold()

    def _account_wait(self, account: _Account, now: float) -> float:
        over = account.failures - self._free
        if over < 0:
            return 0.0
        delay = min(self._backoff * 2.0 ** min(over, 60), self._backoff_max)
        return max(0.0, account.last + delay - now)

    def check(self, address: str, username: str, now: float) -> Throttled | None:
        """Whether a sign-in may be tried now; ``Throttled`` says how long to wait."""
        bucket = self._addresses.get(address)
        if bucket is not None:
            wait = bucket.wait(now)
            if wait > 0:
                return Throttled(wait, "address")
        account = self._accounts.get(self.key(username))
        if account is not None:
            wait = self._account_wait(account, now)
            if wait > 0:
                return Throttled(wait, "account")
        return None

    def failed(self, address: str, username: str, now: float) -> Throttled | None:
        """Count a failure; returns the throttle it starts, if the next try must wait."""
        bucket = self._addresses.pop(address, None) or TokenBucket(self._rate, self._burst)
        bucket.take(now)
        self._addresses[address] = bucket  # re-inserted: the newest are kept longest
        key = self.key(username)
        account = self._accounts.pop(key, None) or _Account()
        account.failures += 1
        account.last = now
        self._accounts[key] = account
        self._prune(now)
        return self.check(address, username, now)

    def succeeded(self, username: str) -> None:
        self._accounts.pop(self.key(username), None)

    def _prune(self, now: float) -> None:
        if len(self._addresses) > self._max_keys:
            for address in [a for a, b in self._addresses.items() if b.full(now)]:
                del self._addresses[address]
            while len(self._addresses) > self._max_keys:
                del self._addresses[next(iter(self._addresses))]
        if len(self._accounts) > self._max_keys:
            stale = now - 2 * self._backoff_max
            for key in [k for k, a in self._accounts.items() if a.last < stale]:
                del self._accounts[key]
            while len(self._accounts) > self._max_keys:
                del self._accounts[next(iter(self._accounts))]
