"""Macros planned with their templates filled; canned responses found by what agents type."""

from __future__ import annotations

from guidance import CannedConfig, Close, MacroConfig, Send, SetContext, Transfer, plan, search
from guidance.templates import template_values

VALUES = template_values(
    customer={"name": "Ann <b>Bold</b>"},
    context={"order": "A-1"},
    prechat={},
    agent_name="Alice",
    conversation={"channel": "webchat"},
)


def test_a_macro_plans_its_actions_in_order_with_templates_filled() -> None:
    macro = MacroConfig.model_validate(
        {
            "name": "refund",
            "actions": [
                {
                    "kind": "send",
                    "text": "Hi {{ customer.first_name }}, refund for {{ context.order }}.",
                },
                {"kind": "set", "name": "refund", "value": "for {{ customer.name }}"},
                {"kind": "set", "name": "amount", "value": 12.5},
                {"kind": "transfer", "queue": "billing", "note": "check it"},
            ],
        }
    )
    assert plan(macro, VALUES, "webchat") == [
        Send("Hi Ann, refund for A-1."),
        SetContext("refund", "for Ann <b>Bold</b>"),
        SetContext("amount", 12.5),
        Transfer("billing", "check it"),
    ]
    # The message is escaped for a channel that may render HTML, not for SMS.
    shout = MacroConfig.model_validate(
        {
            "name": "x",
            "actions": [{"kind": "send", "text": "{{ customer.name }}"}, {"kind": "close"}],
        }
    )
    assert plan(shout, VALUES, "webchat") == [Send("Ann &lt;b&gt;Bold&lt;/b&gt;"), Close()]
    assert plan(shout, VALUES, "sms")[0] == Send("Ann <b>Bold</b>")


CANNED = [
    CannedConfig(name="greeting", title="Opening line", text="Hello {{ customer.first_name }}!"),
    CannedConfig(
        name="refund-time",
        title="How long refunds take",
        text="Refunds take 5 days.",
        tags=["refund", "money"],
    ),
    CannedConfig(
        name="refund-policy", title="Refund policy", text="You can return items in 30 days."
    ),
    CannedConfig(name="bye", text="Thanks for contacting us. Have a good day!"),
]


def names(query: str) -> list[str]:
    return [c.name for c, _ in search(CANNED, query)]


def test_an_empty_query_lists_all_in_config_order() -> None:
    assert names("") == ["greeting", "refund-time", "refund-policy", "bye"]


def test_every_token_must_match_and_names_outrank_text() -> None:
    assert names("refund") == ["refund-time", "refund-policy"]
    assert names("refund days") == ["refund-time", "refund-policy"]
    assert names("refund policy") == ["refund-policy"]
    assert names("return") == ["refund-policy"]
    assert names("day") == ["bye", "refund-time", "refund-policy"]  # a whole word first
    assert names("money") == ["refund-time"]
    assert names("gree") == ["greeting"]
    assert names("nothing like this") == []


def test_an_exact_name_comes_first() -> None:
    assert names("bye")[0] == "bye"
    assert search(CANNED, "refund-policy")[0][0].name == "refund-policy"
    assert len(search(CANNED, "", limit=2)) == 2
