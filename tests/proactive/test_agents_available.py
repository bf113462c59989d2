"""``Router.has_ready_agent``: what proactive rules' ``agents_available`` asks."""

from __future__ import annotations

import router as r

CONFIG = r.RoutingConfig.model_validate(
    {
        "queues": {"default": {}, "sales": {}},
        "capacity": {"one": {"channels": {"webchat": 1}}},
        "default_capacity": "one",
    }
)


def ready_router(queues: frozenset[str] | None) -> r.Router:
    router = r.Router(CONFIG)
    router.handle_all([r.AgentUpserted("a1", queues=queues), r.AgentConnected("a1")], 0.0)
    return router


def test_a_connected_agent_of_the_queue_with_room_is_available():
    router = ready_router(frozenset({"sales"}))
    assert router.has_ready_agent("sales")
    assert not router.has_ready_agent("default")  # not a queue they serve
    assert not router.has_ready_agent("nowhere")


def test_an_away_disconnected_or_full_agent_is_not():
    router = ready_router(None)
    assert router.has_ready_agent("sales") and router.has_ready_agent("default")
    router.handle(r.PresenceChanged("a1", "away"), 1.0)
    assert not router.has_ready_agent("sales")
    router.handle(r.PresenceChanged("a1", "available"), 2.0)
    assert router.has_ready_agent("sales")

    item = r.WorkItem("c1", "webchat", 3.0, queue="sales")
    commands = router.handle(r.ItemArrived(item), 3.0)
    [offer] = [c for c in commands if isinstance(c, r.OfferMade)]
    router.handle(r.OfferAccepted(offer.offer_id, "a1"), 4.0)
    assert not router.has_ready_agent("sales")  # capacity of one, taken

    router.handle(r.AgentDisconnected("a1"), 5.0)
    assert not router.has_ready_agent("sales")
