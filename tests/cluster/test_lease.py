"""The lease table and the fence: hypothesis drives random requests and times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster import Fence, IllegalTransition, Lease, LeaseEvent, LeaseState, Membership, OfferIds

NODES = ("a", "b", "c")
requests = st.lists(
    st.tuples(
        st.sampled_from(("acquire", "renew", "release", "holder")),
        st.sampled_from(NODES),
        st.integers(0, 8),  # token offered on renew/release
        st.floats(0, 5, allow_nan=False),  # time passing before the request
    ),
    max_size=60,
)


@given(requests)
def test_one_holder_at_a_time_and_tokens_only_grow(ops):
    lease, now, issued = Lease(ttl=2.0), 0.0, []
    held: tuple[str, int, float] | None = None  # our model of the lease
    for op, node, token, dt in ops:
        now += dt
        if held is not None and now >= held[2]:
            held = None
        if op == "acquire":
            grant = lease.acquire(node, now)
            assert (grant is None) == (held is not None)
            if grant is not None:
                assert not issued or grant.token > issued[-1]
                issued.append(grant.token)
                held = (node, grant.token, now + 2.0)
        elif op == "renew":
            grant = lease.renew(node, token, now)
            ok = held is not None and held[:2] == (node, token)
            assert (grant is not None) == ok
            if grant is not None:
                held = (node, token, now + 2.0)
        elif op == "release":
            ok = held is not None and held[:2] == (node, token)
            assert lease.release(node, token, now) == ok
            if ok:
                held = None
        current = lease.holder(now)
        assert (current is None) == (held is None)
        if current is not None:
            assert (current.node, current.token) == held[:2]
    assert issued == sorted(set(issued))


def test_an_expired_holder_cannot_renew_after_another_took_it():
    lease = Lease(ttl=1.0)
    first = lease.acquire("a", 0.0)
    assert first is not None and first.token == 1
    assert lease.acquire("b", 0.5) is None
    second = lease.acquire("b", 1.0)
    assert second is not None and second.token == 2
    assert lease.renew("a", 1, 1.1) is None


def test_illegal_moves_raise_naming_state_and_event():
    lease = Lease(ttl=1.0)
    with pytest.raises(IllegalTransition, match="cannot 'renew' in state 'free'"):
        lease._move(LeaseEvent.RENEW)
    assert lease.state is LeaseState.FREE


@given(st.lists(st.integers(0, 20), max_size=30))
def test_the_fence_admits_only_the_highest_token_raised(tokens):
    fence, highest = Fence(), 0
    for token in tokens:
        assert fence.raise_to(token) == (token >= highest)
        highest = max(highest, token)
        assert fence.token == highest
        assert fence.admits(fence.token)
        assert not fence.admits(fence.token - 1)


def test_membership_loses_nodes_not_heard_from_within_the_timeout():
    members = Membership(timeout=3.0)
    assert members.beat("a", 0.0, agents=2)
    assert members.beat("b", 1.0)
    assert not members.beat("a", 2.5, agents=1)
    assert not members.beat("a", 2.0)  # late and out of order: ignored
    assert [(m.id, m.agents) for m in members.alive(3.5)] == [("a", 1), ("b", 0)]
    assert members.expire(4.0) == ["b"]
    assert "b" not in members and "a" in members


def test_offer_ids_name_their_router():
    ids = OfferIds(7)
    assert ids.outward("o-3") == "o-7.3"
    assert ids.inward("o-7.3") == "o-3"
    assert ids.inward("o-6.3") is None  # an earlier router's offer
    assert OfferIds(0).outward("o-3") == "o-3" == OfferIds(0).inward("o-3")
