"""Offers: one agent at a time, timeouts, rejects, stale accepts, revokes."""

import pytest

from router import (
    AgentDisconnected,
    ItemAssigned,
    ItemCancelled,
    ItemClosed,
    ManualAssign,
    OfferAccepted,
    OfferRejected,
    OfferRevoked,
    PresenceChanged,
    Rejected,
    Tick,
)
from router.errors import IllegalTransition
from router.offers import Offer, OfferEvent, OfferState
from tests.router.helpers import Driver, of, offers


def test_offer_state_table_rejects_moves_from_final_states() -> None:
    offer = Offer("o-1", "c1", "a", "default", 0.0, 30.0)
    assert offer.apply(OfferEvent.ACCEPT) is OfferState.ACCEPTED
    for event in OfferEvent:
        with pytest.raises(IllegalTransition, match="state 'accepted'"):
            offer.apply(event)


def test_item_is_offered_to_one_agent_at_a_time(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    made = offers(d.arrive("c1"))
    assert len(made) == 1
    assert made[0].expires_at == d.now + 30


def test_accept_assigns(d: Driver) -> None:
    d.agent("a")
    (offer,) = offers(d.arrive("c1"))
    cmds = d.send(OfferAccepted(offer.offer_id, "a"), at=5)
    assert of(ItemAssigned, cmds) == [ItemAssigned("c1", "a", offer.offer_id)]
    assert d.router.agents_snapshot()["a"].assigned == ("c1",)


def test_offer_times_out_and_goes_to_next_agent(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    (first,) = offers(d.arrive("c1"))
    assert d.router.next_deadline() == first.expires_at
    cmds = d.send(Tick(), at=first.expires_at)
    assert of(OfferRevoked, cmds) == [OfferRevoked(first.offer_id, "c1", first.agent_id, "timeout")]
    (second,) = offers(cmds)
    assert second.item_id == "c1"
    assert second.agent_id != first.agent_id


def test_reject_moves_on_and_remembers_who_declined(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    (first,) = offers(d.arrive("c1"))
    (second,) = offers(d.send(OfferRejected(first.offer_id, first.agent_id, "busy")))
    assert second.agent_id != first.agent_id
    # b declines too: nobody else qualifies and both declined recently, so it waits.
    cmds = d.send(OfferRejected(second.offer_id, second.agent_id))
    assert offers(cmds) == []
    assert d.router.queues_snapshot(d.now)["default"].waiting == 1


def test_decliner_is_not_reoffered_while_another_agent_qualifies(d: Driver) -> None:
    for agent_id in ("a", "b", "c"):
        d.agent(agent_id)
    (offer,) = offers(d.arrive("c1"))
    declined = {offer.agent_id}
    for _ in range(2):
        (offer,) = offers(d.send(OfferRejected(offer.offer_id, offer.agent_id)))
        assert offer.agent_id not in declined
        declined.add(offer.agent_id)
    assert declined == {"a", "b", "c"}


def test_after_everyone_declined_the_item_returns_when_the_decline_lapses() -> None:
    d = Driver({"offers": {"decline_memory": 60}})
    d.agent("a")
    (first,) = offers(d.arrive("c1"))
    assert offers(d.send(OfferRejected(first.offer_id, "a"))) == []
    assert d.router.next_deadline() == 60
    assert offers(d.send(Tick(), at=59.9)) == []
    (again,) = offers(d.send(Tick(), at=60))
    assert again.agent_id == "a"


def test_stale_accept_after_expiry_is_rejected_and_never_assigns(d: Driver) -> None:
    d.agent("a")
    (offer,) = offers(d.arrive("c1"))
    # No Tick was sent: the accept itself arrives late.
    cmds = d.send(OfferAccepted(offer.offer_id, "a"), at=offer.expires_at + 1)
    assert of(ItemAssigned, cmds) == []
    (rejected,) = of(Rejected, cmds)
    assert rejected.code == "offer_expired"
    assert of(OfferRevoked, cmds)[0].reason == "timeout"


def test_accept_by_wrong_agent_or_unknown_offer_is_rejected(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    (offer,) = offers(d.arrive("c1"))
    other = "b" if offer.agent_id == "a" else "a"
    (r1,) = d.send(OfferAccepted(offer.offer_id, other))
    assert isinstance(r1, Rejected) and r1.code == "wrong_agent"
    (r2,) = d.send(OfferAccepted("o-999", "a"))
    assert isinstance(r2, Rejected) and r2.code == "unknown_offer"
    d.send(OfferAccepted(offer.offer_id, offer.agent_id))
    (r3,) = d.send(OfferRejected(offer.offer_id, offer.agent_id))
    assert isinstance(r3, Rejected) and r3.code == "offer_already_accepted"


def test_cancelled_item_revokes_its_offer(d: Driver) -> None:
    d.agent("a")
    (offer,) = offers(d.arrive("c1"))
    cmds = d.send(ItemCancelled("c1"))
    assert cmds == [OfferRevoked(offer.offer_id, "c1", "a", "cancelled")]
    (rejected,) = d.send(OfferAccepted(offer.offer_id, "a"))
    assert isinstance(rejected, Rejected) and rejected.code == "offer_revoked"


def test_manual_assign_revokes_an_offer_to_someone_else_as_taken(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    (offer,) = offers(d.arrive("c1"))
    other = "b" if offer.agent_id == "a" else "a"
    cmds = d.send(ManualAssign("c1", other))
    assert of(OfferRevoked, cmds) == [OfferRevoked(offer.offer_id, "c1", offer.agent_id, "taken")]
    assert of(ItemAssigned, cmds) == [ItemAssigned("c1", other, None)]
    (again,) = d.send(ManualAssign("c1", offer.agent_id))
    assert isinstance(again, Rejected) and again.code == "already_assigned"


def test_disconnect_returns_open_offers_at_once(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    (offer,) = offers(d.arrive("c1"))
    cmds = d.send(AgentDisconnected(offer.agent_id), at=1)
    assert of(OfferRevoked, cmds) == [
        OfferRevoked(offer.offer_id, "c1", offer.agent_id, "unavailable")
    ]
    (moved,) = offers(cmds)
    assert moved.agent_id != offer.agent_id


def test_leaving_an_accepting_status_revokes_open_offers(d: Driver) -> None:
    d.agent("a")
    (offer,) = offers(d.arrive("c1"))
    cmds = d.send(PresenceChanged("a", "away"))
    assert of(OfferRevoked, cmds) == [OfferRevoked(offer.offer_id, "c1", "a", "unavailable")]
    assert offers(cmds) == []


def test_closing_an_assigned_item_frees_capacity_for_the_next(d: Driver) -> None:
    d.agent("a", capacity={"channels": {"webchat": 1}})
    (o1,) = offers(d.arrive("c1"))
    d.send(OfferAccepted(o1.offer_id, "a"))
    assert offers(d.arrive("c2")) == []
    (o2,) = offers(d.send(ItemClosed("c1")))
    assert o2.item_id == "c2"


def test_offer_ids_are_deterministic() -> None:
    runs = []
    for _ in range(2):
        d = Driver()
        d.agent("a")
        d.agent("b")
        ids = []
        for i in range(4):
            for o in offers(d.arrive(f"c{i}")):
                ids.append((o.offer_id, o.agent_id))
                d.send(OfferAccepted(o.offer_id, o.agent_id))
        runs.append(ids)
    assert runs[0] == runs[1]
    assert [o for o, _ in runs[0]] == ["o-1", "o-2", "o-3", "o-4"]


def test_missed_offer_can_set_a_status() -> None:
    d = Driver({"presence": {"on_offer_timeout": "away"}})
    d.agent("a")
    (offer,) = offers(d.arrive("c1"))
    cmds = d.send(Tick(), at=offer.expires_at)
    assert d.router.agents_snapshot()["a"].presence == "away"
    assert offers(cmds) == []
