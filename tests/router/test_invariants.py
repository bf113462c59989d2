"""The invariant checker itself must catch broken states, or it proves nothing."""

from datetime import datetime

import pytest

from router import InvariantViolation, OfferAccepted, check_invariants, time_attributes
from router.items import ItemStatus
from tests.router.helpers import Driver, offers


def busy_driver() -> Driver:
    d = Driver()
    d.agent("a")
    d.agent("b")
    (offer,) = offers(d.arrive("c1"))
    d.send(OfferAccepted(offer.offer_id, offer.agent_id))
    d.arrive("c2")
    d.arrive("c3")
    return d


def test_healthy_router_passes() -> None:
    d = busy_driver()
    check_invariants(d.router, d.now, open_items={"c1", "c2", "c3"})


def test_checker_catches_a_lost_item() -> None:
    d = busy_driver()
    with pytest.raises(InvariantViolation, match="items arrived but not open"):
        check_invariants(d.router, d.now, open_items={"c1", "c2", "c3", "c4"})


def test_checker_catches_an_item_on_two_agents() -> None:
    d = busy_driver()
    holder = d.router._items["c1"].agent_id
    other = "b" if holder == "a" else "a"
    d.router._index.agents[other].assigned.add("c1")
    with pytest.raises(InvariantViolation, match="two places"):
        check_invariants(d.router, d.now)


def test_checker_catches_load_above_capacity() -> None:
    d = busy_driver()
    agent = d.router._index.agents[d.router._items["c1"].agent_id]
    for i in range(3):
        item = d.router._items["c1"]
        agent.load.add(item.channel, agent.capacity)
        agent.assigned.add(f"ghost{i}")
    with pytest.raises(InvariantViolation):
        check_invariants(d.router, d.now)


def test_checker_catches_an_idle_agent_while_work_waits() -> None:
    d = Driver()
    d.arrive("c1")
    d.agent("a", connect=False)
    # Connect behind the router's back: the index never learns, so nobody is offered c1.
    d.router._presence.connect("a")
    with pytest.raises(InvariantViolation, match="idles while c1"):
        check_invariants(d.router, d.now)


def test_checker_catches_a_fifo_skip() -> None:
    d = Driver({"aging": {"seconds_per_level": 0}})
    d.arrive("early", at=0)
    d.arrive("late", at=1)
    d.agent("a", connect=False)
    router = d.router
    d.router._presence.connect("a")
    late = router._items["late"]
    agent = router._index.agents["a"]
    commands = []
    router._make_offer(late, agent, 2.0, commands)  # deliberately skip "early"
    assert late.status is ItemStatus.OFFERED
    with pytest.raises(InvariantViolation, match="FIFO"):
        check_invariants(router, 2.0, commands=commands, deep=False)


def test_time_attributes_for_rules() -> None:
    assert time_attributes(datetime(2026, 11, 21, 18, 30)) == {
        "hour": 18,
        "minute": 30,
        "weekday": "sat",
    }
