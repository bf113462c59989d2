"""Message templates: placeholders filled, values escaped, nothing evaluated."""

from __future__ import annotations

import pytest

from guidance import Escape, Template, TemplateError, template_values


def values(**customer: object) -> dict[str, object]:
    return template_values(
        customer={"name": "Vera Lind", "email": "vera@example.com", **customer},
        context={"order": "A-1234", "items": [1, 2]},
        prechat={"topic": "returns"},
        agent_name="Alice Smith",
        conversation={"id": "c_1", "channel": "webchat", "queue": "default"},
    )


def test_placeholders_are_filled_from_the_conversation() -> None:
    template = Template.parse(
        "Hi {{ customer.first_name }}, {{agent.first_name}} here about order {{ context.order }}"
        " ({{ prechat.topic }})."
    )
    assert template.render(values()) == "Hi Vera, Alice here about order A-1234 (returns)."
    assert template.names == [
        "customer.first_name",
        "agent.first_name",
        "context.order",
        "prechat.topic",
    ]


def test_a_missing_value_takes_the_fallback_or_nothing() -> None:
    template = Template.parse('Hello {{ customer.nickname or "there" }}{{ context.none }}!')
    assert template.render(values()) == "Hello there!"
    assert Template.parse("{{ customer.name or 'x' }}").render(values(name="")) == "x"


def test_values_are_html_escaped_for_web_chat_whose_clients_may_render_html() -> None:
    template = Template.parse("Hello {{ customer.name }} & welcome")
    evil = values(name='<script>alert("x")</script>')
    assert template.render(evil, Escape.HTML) == (
        'Hello &lt;script&gt;alert("x")&lt;/script&gt; & welcome'
    )
    assert template.render(values(name="O'Brien & Co"), Escape.HTML) == (
        "Hello O'Brien &amp; Co & welcome"
    )
    assert Escape.for_channel("webchat") is Escape.HTML
    assert Escape.for_channel("email") is Escape.TEXT  # sent as text/plain
    assert Escape.for_channel("sms") is Escape.TEXT


def test_plain_text_escaping_drops_control_characters_and_caps_length() -> None:
    template = Template.parse("[{{ customer.name }}]")
    assert template.render(values(name="Ve\x00ra\x1b[31m"), Escape.TEXT) == "[Vera[31m]"
    long = template.render(values(name="x" * 5000), Escape.TEXT)
    assert len(long) == 502 and long.endswith("…]")


def test_values_are_never_rendered_again_or_evaluated() -> None:
    template = Template.parse("Hi {{ customer.name }}")
    sneaky = values(name="{{ context.order }} {{ 7*7 }} ${x} {0.__class__}")
    assert (
        template.render(sneaky, Escape.TEXT)
        == "Hi {{ context.order }} {{ 7*7 }} ${x} {0.__class__}"
    )


def test_lookups_only_walk_dictionaries() -> None:
    # No attribute access: a Python method name finds nothing.
    assert Template.parse("{{ customer.name.upper }}").render(values()) == ""
    assert Template.parse("{{ context.items }}").render(values()) == "[1, 2]"


@pytest.mark.parametrize(
    ("source", "column", "words"),
    [
        ("Hi {{ customer.name", 4, "never closed"),
        ("Hi {{ 7*7 }}", 4, "expected a name"),
        ("{{ os.system }}", 1, "unknown name 'os'"),
        ("x {{ customer.name | upper }}", 3, "expected a name"),
        ("{{ customer.__class__ }}", 1, "expected a name"),
    ],
)
def test_bad_templates_are_refused_with_a_column(source: str, column: int, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template.parse(source)
    assert caught.value.column == column
    assert words in str(caught.value)
