"""Rate limits and the sign-in throttle, pure: time is an argument."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ratelimit import AddressBuckets, AddressSlots, LoginThrottle


def throttle(**kw: float) -> LoginThrottle:
    settings: dict[str, float] = {
        "address_burst": 10,
        "address_window": 100.0,
        "free_failures": 3,
        "backoff": 1.0,
        "backoff_max": 60.0,
    }
    settings.update(kw)
    return LoginThrottle(
        address_burst=int(settings["address_burst"]),
        address_window=settings["address_window"],
        free_failures=int(settings["free_failures"]),
        backoff=settings["backoff"],
        backoff_max=settings["backoff_max"],
    )


def test_free_failures_then_a_doubling_wait_per_account() -> None:
    t = throttle()
    for _ in range(2):
        assert t.failed("1.1.1.1", "alice", 0.0) is None
    started = t.failed("1.1.1.1", "alice", 0.0)  # the third: the next try waits
    assert started is not None and started.scope == "account" and started.retry_after == 1.0
    assert t.check("2.2.2.2", "alice", 0.5) is not None  # from any address
    assert t.check("2.2.2.2", "alice", 1.0) is None
    t.failed("2.2.2.2", "alice", 1.0)
    wait = t.check("2.2.2.2", "alice", 1.0)
    assert wait is not None and wait.retry_after == 2.0


def test_the_wait_is_capped() -> None:
    t = throttle(backoff_max=5.0)
    for i in range(40):
        t.failed(f"10.0.0.{i}", "bob", 1000.0 * i)
    wait = t.check("10.9.9.9", "bob", 1000.0 * 39)
    assert wait is not None and wait.retry_after == 5.0


def test_a_success_resets_the_account_but_not_the_address() -> None:
    t = throttle(address_burst=4)
    for _ in range(3):
        t.failed("1.1.1.1", "carol", 0.0)
    t.succeeded("carol")
    assert t.check("9.9.9.9", "carol", 0.0) is None
    t.failed("1.1.1.1", "dave", 0.0)
    refused = t.check("1.1.1.1", "erin", 0.0)
    assert refused is not None and refused.scope == "address"


def test_usernames_that_do_not_exist_are_throttled_alike_and_case_folded() -> None:
    t = throttle()
    for _ in range(3):
        t.failed("1.1.1.1", "Nobody", 0.0)
    assert t.check("3.3.3.3", "nobody", 0.0) is not None


def test_an_address_gets_its_failures_back_over_the_window() -> None:
    t = throttle(address_burst=5, address_window=50.0, free_failures=100)  # 1 per 10 s
    for i in range(5):
        t.failed("7.7.7.7", f"user{i}", 0.0)
    refused = t.check("7.7.7.7", "someone", 0.0)
    assert refused is not None and refused.retry_after == 10.0
    assert t.check("7.7.7.7", "someone", 10.0) is None


def test_memory_is_bounded() -> None:
    t = LoginThrottle(
        address_burst=5,
        address_window=50.0,
        free_failures=3,
        backoff=1.0,
        backoff_max=60.0,
        max_keys=100,
    )
    for i in range(1000):
        t.failed(f"addr{i}", f"user{i}", float(i))
    assert len(t._addresses) <= 100 and len(t._accounts) <= 100


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 1000)), max_size=60))
def test_no_try_passes_while_a_wait_is_due(events: list[tuple[str, float]]) -> None:
    """Whatever the failures, an account with ``free_failures`` or more
    failures in a row is refused until ``backoff`` after its last one."""
    t = throttle(address_burst=1000)
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    now = 0.0
    for name, step in events:
        now += step
        if t.check("1.1.1.1", name, now) is not None:
            assert counts[name] >= 3 and now < last[name] + 60.0
            continue
        t.failed("1.1.1.1", name, now)
        counts[name] = counts.get(name, 0) + 1
        last[name] = now
        if counts[name] >= 3:
            assert t.check("1.1.1.1", name, now) is not None


def test_address_buckets_say_how_long_to_wait() -> None:
    buckets = AddressBuckets(rate=0.5, burst=2)
    assert buckets.retry_after("a", 0.0) == 0.0
    assert buckets.allow("a", 0.0) and buckets.allow("a", 0.0)
    assert not buckets.allow("a", 0.0)
    assert buckets.retry_after("a", 0.0) == pytest.approx(2.0)
    assert buckets.retry_after("a", 1.5) == pytest.approx(0.5)
    assert buckets.retry_after("b", 0.0) == 0.0
    assert buckets.allow("a", 2.0)


def test_address_slots_cap_what_one_address_holds_and_release_frees() -> None:
    slots = AddressSlots(2)
    assert slots.acquire("a") and slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.held("a") == 2  # a refusal takes nothing
    assert slots.acquire("b")
    slots.release("a")
    assert slots.acquire("a")
    for _ in range(2):
        slots.release("a")
    slots.release("b")
    assert slots.held("a") == slots.held("b") == 0
    assert slots._held == {}  # nothing kept for addresses that hold nothing
