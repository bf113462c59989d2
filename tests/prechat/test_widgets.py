"""``[[webchat.widgets]]``: a pre-chat survey per widget, beside the default one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prechat import DEFAULT_WIDGET, WebchatConfig


def config(**data: object) -> WebchatConfig:
    return WebchatConfig.model_validate(data)


def test_the_top_level_fields_are_the_default_widgets():
    webchat = config(
        prechat=[{"name": "topic"}],
        widgets=[{"id": "shop", "prechat": [{"name": "order", "required": True}]}],
    )
    default = webchat.widget(None)
    assert default is not None and default.id == DEFAULT_WIDGET
    assert [f.name for f in default.prechat] == ["topic"]
    assert webchat.widget("default") == default
    shop = webchat.widget("shop")
    assert shop is not None and [f.name for f in shop.prechat] == ["order"]
    assert webchat.widget("nope") is None
    assert webchat.widget_ids() == ["default", "shop"]


def test_the_default_widget_may_be_a_widgets_entry_instead():
    webchat = config(widgets=[{"id": "default", "prechat": [{"name": "email", "type": "email"}]}])
    default = webchat.widget(None)
    assert default is not None and [f.type for f in default.prechat] == ["email"]
    assert webchat.widget_ids() == ["default"]


def test_without_any_config_the_default_widget_has_no_survey():
    default = WebchatConfig().widget(None)
    assert default is not None and default.prechat == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"widgets": [{"id": "a"}, {"id": "a"}]}, "widgets defined twice: ['a']"),
        (
            {"prechat": [{"name": "x"}], "widgets": [{"id": "default"}]},
            "the 'default' widget is defined twice",
        ),
        ({"widgets": [{"id": "a b"}]}, "widgets.0.id"),
        ({"widgets": [{"id": "a", "colour": "red"}]}, "colour"),
        (
            {"widgets": [{"id": "a", "prechat": [{"name": "x"}, {"name": "x"}]}]},
            "widget 'a': prechat fields defined twice",
        ),
    ],
)
def test_bad_widgets_are_refused_naming_the_problem(data: dict[str, object], message: str):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        WebchatConfig.model_validate(data)
