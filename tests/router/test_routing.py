"""Routing decisions: capacity, skills, methods, queues, intake, overflow, transfers."""

from router import (
    AgentConnected,
    AgentDisconnected,
    AgentRemoved,
    ItemAssigned,
    ItemClosed,
    ItemOverflowed,
    ItemQueued,
    ManualAssign,
    OfferAccepted,
    OfferRejected,
    PresenceChanged,
    PresenceUpdated,
    PriorityChanged,
    Rejected,
    Tick,
    Transferred,
    WorkItem,
)
from router.events import ItemArrived, ItemRequeued
from tests.router.helpers import Driver, of, offers, req


def accept_all(d: Driver, cmds: list) -> list:
    """Accept every offer in ``cmds`` (and in what the accepts produce)."""
    out = []
    pending = offers(cmds)
    while pending:
        o = pending.pop(0)
        more = d.send(OfferAccepted(o.offer_id, o.agent_id))
        out += more
        pending += offers(more)
    return out


# --- defaults and capacity --------------------------------------------------------


def test_fresh_install_routes_every_channel_to_any_agent(d: Driver) -> None:
    cmds = d.agent("a")
    assert cmds == [PresenceUpdated("a", "available")]
    for i, channel in enumerate(["webchat", "sms", "email", "whatsapp"]):
        (offer,) = offers(d.arrive(f"c{i}", channel))
        assert offer.queue == "default"
        d.send(OfferAccepted(offer.offer_id, "a"))


def test_agent_at_capacity_on_a_channel_gets_nothing_more_there(d: Driver) -> None:
    d.agent("a")
    for i in range(3):
        accept_all(d, d.arrive(f"chat{i}", "webchat"))
    assert offers(d.arrive("chat3", "webchat")) == []
    # Other channels still have room.
    assert len(offers(d.arrive("sms0", "sms"))) == 1
    assert d.router.agents_snapshot()["a"].load["webchat"] == 3


def test_unit_capacity_counts_cost_across_channels() -> None:
    d = Driver({"capacity": {"standard": {"units": 100, "costs": {"webchat": 30, "email": 10}}}})
    d.agent("a")
    accept_all(d, d.arrive("c1", "webchat"))
    accept_all(d, d.arrive("c2", "webchat"))
    accept_all(d, d.arrive("c3", "webchat"))  # 90 of 100 used
    assert offers(d.arrive("c4", "webchat")) == []  # would be 120
    assert len(offers(d.arrive("e1", "email"))) == 1  # 100 fits
    assert offers(d.arrive("s1", "sms")) == []  # the profile refuses SMS


def test_pending_offer_reserves_capacity() -> None:
    d = Driver({"offers": {"per_agent": 2}})
    d.agent("a", capacity={"channels": {"webchat": 1}})
    assert len(offers(d.arrive("c1"))) == 1
    assert offers(d.arrive("c2")) == []


def test_manual_assign_respects_capacity_unless_forced(d: Driver) -> None:
    d.agent("a", capacity={"channels": {"webchat": 1}})
    accept_all(d, d.arrive("c1"))
    d.agent("b", connect=False)
    d.arrive("c2")
    (rejected,) = d.send(ManualAssign("c2", "a"))
    assert isinstance(rejected, Rejected) and rejected.code == "at_capacity"
    assert of(ItemAssigned, d.send(ManualAssign("c2", "a", force=True))) == [
        ItemAssigned("c2", "a", None)
    ]
    assert d.router.agents_snapshot()["a"].load["webchat"] == 2


def test_an_item_taken_as_it_arrives_is_offered_to_nobody(d: Driver) -> None:
    """``handle_all`` settles once, after the take: the shell enters work taken
    by hand this way, and an offer in between would hold the other agent's
    capacity for a conversation the store had already given away."""
    d.agent("idle")
    d.agent("taker", connect=False)
    item = WorkItem("c1", "webchat", d.now)
    cmds = d.router.handle_all([ItemArrived(item), ManualAssign("c1", "taker", force=True)], d.now)
    assert offers(cmds) == []
    assert of(ItemAssigned, cmds) == [ItemAssigned("c1", "taker", None)]
    assert d.router.agents_snapshot()["idle"].load.get("webchat", 0) == 0


# --- skills and methods -------------------------------------------------------------


def test_exact_match_needs_every_skill_at_level(d: Driver) -> None:
    d.agent("novice", {"billing": 2, "spanish": 5})
    d.agent("expert", {"billing": 4})
    (offer,) = offers(d.arrive("c1", skills=[req("billing", 3)]))
    assert offer.agent_id == "expert"
    assert offers(d.arrive("c2", skills=[req("billing", 3), req("spanish", 1)])) == []


def test_closest_match_keeps_experts_free() -> None:
    d = Driver({"queues": {"default": {"match": "closest"}}})
    d.agent("expert", {"billing": 5})
    d.agent("enough", {"billing": 3})
    (offer,) = offers(d.arrive("c1", skills=[req("billing", 3)]))
    assert offer.agent_id == "enough"


def test_longest_idle_picks_who_waited_longest_since_last_assignment(d: Driver) -> None:
    d.agent("a")
    d.agent("b")
    first = offers(d.arrive("c1", at=1))[0]
    assert first.agent_id == "a"  # both never assigned: the id breaks the tie
    d.send(OfferAccepted(first.offer_id, "a"))
    assert offers(d.arrive("c2", at=2))[0].agent_id == "b"


def test_highest_capacity_picks_most_free_room() -> None:
    d = Driver({"queues": {"default": {"method": "highest-capacity"}}})
    d.agent("small", capacity={"channels": {"webchat": 2}})
    d.agent("big", capacity={"channels": {"webchat": 5}})
    assert offers(d.arrive("c1"))[0].agent_id == "big"


def test_most_skilled_picks_highest_proficiency() -> None:
    d = Driver({"queues": {"default": {"method": "most-skilled"}}})
    d.agent("ok", {"tech": 3})
    d.agent("guru", {"tech": 5})
    assert offers(d.arrive("c1", skills=[req("tech", 2)]))[0].agent_id == "guru"


def test_round_robin_cycles_through_agents_by_id() -> None:
    d = Driver({"queues": {"default": {"method": "round-robin"}}})
    for agent_id in ("c", "a", "b"):
        d.agent(agent_id)
    picked = []
    for i in range(4):
        (offer,) = offers(d.arrive(f"x{i}"))
        picked.append(offer.agent_id)
        d.send(OfferAccepted(offer.offer_id, offer.agent_id))
    assert picked == ["a", "b", "c", "a"]


def test_agent_serves_only_its_queues() -> None:
    d = Driver({"queues": {"default": {}, "vip": {}}})
    d.agent("a", queues=["default"])
    assert offers(d.arrive("c1", queue="vip")) == []
    d.agent("v", queues=["vip"])
    # v got the vip item as soon as they showed up
    snap = d.router.agents_snapshot()["v"]
    assert len(snap.open_offers) == 1


# --- queue order --------------------------------------------------------------------


def test_higher_priority_goes_first_then_fifo() -> None:
    d = Driver({"aging": {"seconds_per_level": 0}})
    for i, priority in enumerate([0, 5, 0, 5]):
        d.arrive(f"c{i}", priority=priority, at=i)
    d.agent("a", capacity={"channels": {"webchat": 1}})
    order = []
    for _ in range(4):
        snap = d.router.agents_snapshot()["a"]
        (offer_id,) = snap.open_offers
        cmds = d.send(OfferAccepted(offer_id, "a"))
        (item_id,) = d.router.agents_snapshot()["a"].assigned
        order.append(item_id)
        d.send(ItemClosed(item_id))
        assert of(Rejected, cmds) == []
    assert order == ["c1", "c3", "c0", "c2"]


def test_aging_lets_old_low_priority_work_overtake() -> None:
    d = Driver({"aging": {"seconds_per_level": 10}})
    d.arrive("old", priority=0, at=0)
    d.arrive("new", priority=2, at=25)  # old has aged 2.5 levels by now
    (offer,) = offers(d.agent("a"))
    assert offer.item_id == "old"


def test_queue_snapshot_counts_waiting_offered_and_longest_wait(d: Driver) -> None:
    d.arrive("c1", priority=1, at=0)
    d.arrive("c2", priority=0, at=4)
    snap = d.router.queues_snapshot(10)["default"]
    assert (snap.waiting, snap.offered, snap.longest_wait) == (2, 0, 10)
    assert snap.by_priority == {1: 1, 0: 1}
    d.agent("a")
    snap = d.router.queues_snapshot(10)["default"]
    assert (snap.waiting, snap.offered) == (1, 1)


# --- intake -------------------------------------------------------------------------

INTAKE = {
    "queues": {"default": {}, "gold": {}, "billing": {}},
    "intake": [
        {"name": "gold", "when": 'customer.tier == "gold"', "queue": "gold", "priority": 5},
        {
            "name": "billing words",
            "when": 'message contains "invoice"',
            "queue": "billing",
            "skills": {"billing": 2},
            "stop": True,
        },
        {"name": "never reached", "when": "true", "priority": 99},
    ],
}


def test_intake_rules_set_queue_skills_and_priority() -> None:
    d = Driver(INTAKE)
    (q1,) = of(ItemQueued, d.arrive("c1", customer={"tier": "gold"}))
    assert (q1.queue, q1.priority) == ("gold", 99)
    (q2,) = of(ItemQueued, d.arrive("c2", customer={"tier": "gold"}, message="My Invoice"))
    assert (q2.queue, q2.priority) == ("billing", 5)  # stop = true ends evaluation
    d.agent("nobilling", queues=["billing"])
    assert d.router.agents_snapshot()["nobilling"].open_offers == ()
    d.agent("biller", {"billing": 2}, queues=["billing"])
    assert len(d.router.agents_snapshot()["biller"].open_offers) == 1


def test_arrival_with_unknown_queue_or_duplicate_id_is_rejected(d: Driver) -> None:
    (r1,) = d.arrive("c1", queue="nope")
    assert isinstance(r1, Rejected) and r1.code == "unknown_queue"
    d.arrive("c2")
    (r2,) = d.send(ItemArrived(WorkItem("c2", "sms", 0.0)))
    assert isinstance(r2, Rejected) and r2.code == "duplicate_item"


# --- overflow -----------------------------------------------------------------------

BULLSEYE = {
    "queues": {
        "default": {
            "overflow": [
                {"after": 30, "action": "lower_proficiency", "by": 2},
                {"after": 60, "action": "drop_optional"},
                {"after": 90, "action": "move", "queue": "overflow"},
            ]
        },
        "overflow": {},
    }
}


def test_overflow_widens_the_ring_then_moves_queue() -> None:
    d = Driver(BULLSEYE)
    d.agent("junior", {"billing": 2}, queues=["default"])
    d.arrive("c1", skills=[req("billing", 4), req("spanish", 3, optional=True)], at=0)
    assert d.router.next_deadline() == 30
    cmds = d.send(Tick(), at=30)
    assert of(ItemOverflowed, cmds) == [
        ItemOverflowed("c1", "default", None, "lower_proficiency by 2")
    ]
    assert offers(cmds) == []  # still needs spanish
    cmds = d.send(Tick(), at=60)
    assert of(ItemOverflowed, cmds)[0].step == "drop_optional"
    assert offers(cmds)[0].agent_id == "junior"


def test_overflow_moves_to_an_overflow_queue_after_the_wait_threshold() -> None:
    d = Driver(BULLSEYE)
    d.arrive("c1", skills=[req("legal", 5)], at=0)
    d.agent("other", queues=["overflow"])
    cmds = d.send(Tick(), at=90)
    assert ItemOverflowed("c1", "default", "overflow", "move to overflow") in cmds
    assert ItemQueued("c1", "overflow", 0, "overflow") in cmds
    # The overflow queue starts from the item's own requirements: nobody has legal 5.
    assert offers(cmds) == []


def test_item_goes_to_bot_queue_when_no_agent_qualifies() -> None:
    d = Driver(
        {
            "queues": {
                "default": {"overflow": [{"if_no_agent": True, "action": "bot", "queue": "bot"}]},
                "bot": {},
            }
        }
    )
    d.agent("bot-1", queues=["bot"])
    cmds = d.arrive("c1")
    assert ItemOverflowed("c1", "default", "bot", "bot to bot") in cmds
    assert offers(cmds)[0].agent_id == "bot-1"


def test_no_agent_overflow_does_not_fire_while_someone_qualifies_but_is_busy() -> None:
    d = Driver(
        {
            "queues": {
                "default": {"overflow": [{"if_no_agent": True, "action": "move", "queue": "b"}]},
                "b": {},
            }
        }
    )
    d.agent("a", capacity={"channels": {"webchat": 1}}, queues=["default"])
    accept_all(d, d.arrive("c1"))
    cmds = d.arrive("c2")
    assert of(ItemOverflowed, cmds) == []


# --- transfers, priority, requeue, removal -----------------------------------------


def test_transfer_frees_capacity_and_requeues_with_note() -> None:
    d = Driver({"queues": {"default": {}, "tech": {}}})
    d.agent("a", capacity={"channels": {"webchat": 1}}, queues=["default"])
    accept_all(d, d.arrive("c1"))
    d.arrive("c2")
    cmds = d.send(Transferred("c1", "a", "tech", "needs a tech"))
    assert ItemQueued("c1", "tech", 0, "transfer", "needs a tech") in cmds
    assert offers(cmds)[0].item_id == "c2"  # a's slot is free again
    (bad,) = d.send(Transferred("c1", "a", "tech"))
    assert isinstance(bad, Rejected) and bad.code == "not_assigned"


def test_requeued_item_goes_to_someone_else_first(d: Driver) -> None:
    d.agent("a")
    accept_all(d, d.arrive("c1"))
    d.agent("b")
    cmds = d.send(ItemRequeued("c1", "going home"))
    assert offers(cmds)[0].agent_id == "b"


def test_priority_change_reorders_and_can_move_to_escalation_queue() -> None:
    d = Driver({"queues": {"default": {}, "escalation": {}}, "aging": {"seconds_per_level": 0}})
    d.arrive("c1", at=0)
    d.arrive("c2", at=1)
    cmds = d.send(PriorityChanged("c2", 9))
    assert ItemQueued("c2", "default", 9, "priority") in cmds
    (offer,) = offers(d.agent("a", queues=["default"]))
    assert offer.item_id == "c2"
    cmds = d.send(PriorityChanged("c1", 9, "escalation"))
    assert ItemQueued("c1", "escalation", 9, "priority") in cmds


def test_removed_agent_returns_assigned_work(d: Driver) -> None:
    d.agent("a")
    accept_all(d, d.arrive("c1"))
    d.agent("b")
    cmds = d.send(AgentRemoved("a"))
    assert ItemQueued("c1", "default", 0, "returned") in cmds
    assert offers(cmds)[0].agent_id == "b"


# --- presence -----------------------------------------------------------------------


def test_agent_not_in_accepting_presence_gets_no_new_offers(d: Driver) -> None:
    d.agent("a")
    d.send(PresenceChanged("a", "away"))
    assert offers(d.arrive("c1")) == []
    assert offers(d.send(PresenceChanged("a", "available")))[0].item_id == "c1"


def test_custom_status_and_queue_presences() -> None:
    d = Driver(
        {
            "presence": {"statuses": [{"name": "backoffice", "accepts_work": True}]},
            "queues": {"default": {"presences": ["available"]}, "email": {}},
        }
    )
    d.agent("a")
    d.send(PresenceChanged("a", "backoffice"))
    assert offers(d.arrive("c1")) == []  # default takes only "available"
    assert len(offers(d.arrive("e1", "email", queue="email"))) == 1
    (bad,) = d.send(PresenceChanged("a", "napping"))
    assert isinstance(bad, Rejected) and bad.code == "unknown_status"


def test_dropped_agent_goes_offline_after_grace_unless_reconnected(d: Driver) -> None:
    d.agent("a")
    d.send(AgentDisconnected("a"), at=10)
    assert d.router.next_deadline() == 40
    d.send(AgentConnected("a"), at=20)  # back within grace: nothing changes
    assert d.send(Tick(), at=40) == []
    d.send(AgentDisconnected("a"), at=50)
    assert offers(d.arrive("c1", at=55)) == []  # not connected: no new offers
    cmds = d.send(Tick(), at=80)
    assert PresenceUpdated("a", "offline") in cmds


def test_two_connections_count_as_connected_until_both_drop(d: Driver) -> None:
    d.agent("a")
    d.send(AgentConnected("a"))
    d.send(AgentDisconnected("a"))
    assert len(offers(d.arrive("c1"))) == 1


def test_busy_at_capacity_shows_busy_while_full() -> None:
    d = Driver({"presence": {"busy_at_capacity": True}})
    d.agent("a", capacity={"channels": {"webchat": 1}, "other": 0})
    cmds = accept_all(d, d.arrive("c1"))
    assert d.router.agents_snapshot()["a"].presence == "busy"
    cmds = d.send(ItemClosed("c1"))
    assert PresenceUpdated("a", "available") in cmds


def test_unknown_agent_events_are_rejected_not_raised(d: Driver) -> None:
    for event in (PresenceChanged("x", "available"), AgentConnected("x"), AgentRemoved("x")):
        (rejected,) = d.send(event)
        assert isinstance(rejected, Rejected) and rejected.code == "unknown_agent"
    (bad,) = d.send(OfferRejected("o-1", "x"))
    assert isinstance(bad, Rejected) and bad.code == "unknown_offer"


def test_core_never_lets_time_run_backwards(d: Driver) -> None:
    d.agent("a")
    (offer,) = offers(d.arrive("c1", at=100))
    cmds = d.router.handle(OfferAccepted(offer.offer_id, "a"), 5)
    assert of(ItemAssigned, cmds)


def test_intake_rule_on_time_of_day() -> None:
    from datetime import datetime

    from router import time_attributes

    d = Driver(
        {
            "queues": {"default": {}, "night": {}},
            "intake": [
                {
                    "name": "night",
                    "when": 'time.hour >= 20 or time.weekday in ["sat", "sun"]',
                    "queue": "night",
                }
            ],
        }
    )
    (late,) = of(ItemQueued, d.arrive("c1", time=time_attributes(datetime(2026, 11, 23, 21, 5))))
    (day,) = of(ItemQueued, d.arrive("c2", time=time_attributes(datetime(2026, 11, 23, 10, 0))))
    assert (late.queue, day.queue) == ("night", "default")
