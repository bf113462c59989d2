"""The extractive take-over summary: who, what they asked, what was done."""

from __future__ import annotations

from guidance import Happening, Line, summarize
from guidance.summary import key_sentences, sentences


def test_sentences_split_on_ends_and_lines() -> None:
    assert sentences("Hi! My card never came.\nWhere is it?  ok") == [
        "Hi!",
        "My card never came.",
        "Where is it?",
        "ok",
    ]


def test_key_sentences_skip_greetings_and_pick_what_the_customer_keeps_asking() -> None:
    said = [
        "Hello there!",
        "I ordered a new debit card two weeks ago and it still has not arrived.",
        "Thanks.",
        "The weather is nice today.",
        "Can you tell me where my debit card is? The order number is 88812.",
        "My card still has not arrived and I need the card for a trip.",
        "ok thanks bye",
    ]
    picked = key_sentences(said, limit=3)
    assert len(picked) == 3
    assert "Hello there!" not in picked and "Thanks." not in picked
    assert "The weather is nice today." not in picked
    assert "Can you tell me where my debit card is?" in picked
    # Kept in the order they were said.
    assert picked == sorted(picked, key=lambda s: next(i for i, t in enumerate(said) if s in t))


def test_near_repeats_are_picked_once() -> None:
    said = ["My parcel is late.", "My parcel is late!", "My parcel is late.", "Refund me please"]
    assert key_sentences(said, limit=2) == ["My parcel is late.", "Refund me please"]


def test_nothing_to_pick_from_small_talk() -> None:
    assert key_sentences(["hi", "thanks", "ok bye"]) == []


def test_the_summary_tells_who_asked_and_what_was_done() -> None:
    summary = summarize(
        customer={"name": "Vera Lind", "email": "vera@example.com", "phone": None},
        channel="webchat",
        language="en",
        prechat={"topic": "cards"},
        context={"handoff": {"from": "helper", "reason": "bot", "summary": "card not arrived"}},
        lines=[
            Line("customer", "Vera", "Hi. My new card has not arrived after two weeks."),
            Line("bot", "helper", "Sorry to hear that. Let me get a person."),
            Line("agent", "Alice", "Let me check."),
            Line("customer", "Vera", "Could you send a replacement card to my new address?"),
        ],
        events=[
            Happening("created", None, {"channel": "webchat"}),
            Happening("assigned", "router", {"agent_id": "u_1", "agent_name": "Alice"}),
            Happening("macro", "Alice", {"macro": "verify"}),
            Happening("context_set", "Alice", {"name": "verified", "value": True}),
            Happening(
                "queued", "Alice", {"from_agent": "u_1", "queue": "cards", "note": "needs a card"}
            ),
        ],
        previous_conversations=2,
    )
    wire = summary.to_wire()
    assert wire["who"]["name"] == "Vera Lind"
    assert wire["who"]["previous_conversations"] == 2
    assert wire["who"]["prechat"] == {"topic": "cards"}
    assert wire["asked"] == [
        "My new card has not arrived after two weeks.",
        "Could you send a replacement card to my new address?",
    ]
    assert wire["done"] == [
        "handled by Alice",
        "Alice ran the macro 'verify'",
        "verified set to True",
        'transferred by Alice to cards with the note "needs a card"',
        'handed off by helper (bot): "card not arrived"',
        "the bot helper sent 1 message",
    ]
    assert wire["text"].startswith("Vera Lind (webchat) asked: My new card")


def test_a_handoff_event_is_told_once() -> None:
    summary = summarize(
        customer={"name": None},
        channel="sms",
        language=None,
        prechat={},
        context={"handoff": {"from": "helper", "reason": "timeout"}},
        lines=[],
        events=[Happening("handoff", "helper", {"from": "helper", "reason": "timeout"})],
        previous_conversations=0,
    )
    assert summary.done == ["handed off by helper (timeout)"]
    assert summary.asked == []


def test_a_bot_hand_off_reads_as_the_bot_took_it_and_handed_it_off() -> None:
    """The events the bot runtime writes: assigned to the bot, queued with
    reason "handoff", then a "handoff" event with the bot's summary."""
    summary = summarize(
        customer={"name": "Ola"},
        channel="webchat",
        language=None,
        prechat={},
        context={},
        lines=[
            Line("customer", "Ola", "I want to change the delivery address of order 991."),
            Line("bot", "helper", "Let me find someone who can do that."),
        ],
        events=[
            Happening(
                "assigned",
                "helper",
                {"agent_id": "u_b", "agent_name": "helper", "agent_is_bot": True},
            ),
            Happening(
                "queued", "helper", {"reason": "handoff", "from_agent": "u_b", "queue": "orders"}
            ),
            Happening("rerouted", "helper", {"priority": 2, "reason": "handoff"}),
            Happening(
                "handoff",
                "helper",
                {"from": "helper", "reason": "bot", "summary": "address change"},
            ),
            Happening("offered", "router", {"agent_id": "u_a", "agent_name": "Alice"}),
        ],
        previous_conversations=0,
    )
    assert summary.done == [
        "the bot helper took it",
        'handed off by helper (bot): "address change"',
        "the bot helper sent 1 message",
    ]
    assert summary.asked == ["I want to change the delivery address of order 991."]


def test_the_skill_finders_intent_reads_plainly() -> None:
    def done(value: object) -> list[str]:
        event = Happening("context_set", None, {"name": "intent", "value": value})
        return summarize(
            customer={},
            channel="webchat",
            language=None,
            prechat={},
            context={},
            lines=[],
            events=[event],
            previous_conversations=0,
        ).done

    sure = {"name": "card_arrival", "guess": "card_arrival", "confidence": 0.93}
    assert done(sure) == ["the intent is card_arrival (93% sure)"]
    unsure = {"name": None, "guess": "lost_card", "confidence": 0.41}
    assert done(unsure) == ["the intent is probably lost_card (41% sure)"]
