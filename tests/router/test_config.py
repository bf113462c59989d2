import re
from pathlib import Path

import pytest

from router import ConfigError, RoutingConfig
from router.assignment import Method

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing.md"


def test_default_config_is_one_queue_three_per_channel() -> None:
    config = RoutingConfig()
    assert list(config.queues) == ["default"]
    assert config.default_queue == "default"
    capacity = config.capacity[config.default_capacity].resolve()
    assert set(capacity.limits.values()) == {3}
    assert config.offers.timeout == 30
    assert config.presence.grace == 30


def test_empty_routing_table_gives_the_default() -> None:
    assert RoutingConfig.from_toml("") == RoutingConfig()


def test_bad_rule_names_rule_and_column() -> None:
    toml = """
[[routing.intake]]
name = "gold tier"
when = 'customer.tier == "gold" and and'
queue = "default"
"""
    with pytest.raises(ConfigError) as info:
        RoutingConfig.from_toml(toml)
    message = str(info.value)
    assert "intake rule 'gold tier'" in message
    assert "column 29" in message
    assert "routing.intake.0" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"default_queue": "nope"}, "default_queue 'nope' is not a configured queue"),
        ({"intake": [{"name": "r", "when": "true", "queue": "x"}]}, "unknown queue 'x'"),
        (
            {"queues": {"default": {"overflow": [{"after": 5, "action": "move"}]}}},
            "needs queue",
        ),
        (
            {"queues": {"default": {"overflow": [{"action": "drop_optional"}]}}},
            "needs after",
        ),
        (
            {"queues": {"default": {"presences": ["away"]}}},
            "does not accept work",
        ),
        ({"queues": {"default": {"method": "fastest"}}}, "routing.queues.default.method"),
        ({"capacity": {"standard": {}}}, "accepts no channel"),
        (
            {"capacity": {"standard": {"units": 100, "costs": {"webchat": 30}, "other": 2}}},
            "have no cost",
        ),
        (
            {
                "skills": ["billing"],
                "intake": [{"name": "r", "when": "true", "skills": {"bill": 2}}],
            },
            "undeclared skills ['bill']",
        ),
        (
            {"intake": [{"name": "r", "when": "true", "skills": {"billing": 7}}]},
            "less than or equal",
        ),
        ({"queus": {}}, "routing.queus: Extra inputs are not permitted"),
        ({"presence": {"statuses": [{"name": "away"}]}}, "clashes with a built-in"),
    ],
)
def test_invalid_config_says_what_and_where(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        RoutingConfig.from_mapping(data)
    assert fragment in str(info.value)


def test_least_active_is_an_alias_of_longest_idle() -> None:
    config = RoutingConfig.from_mapping({"queues": {"default": {"method": "least-active"}}})
    assert config.queues["default"].method is Method.LONGEST_IDLE


def test_units_profile_resolves() -> None:
    config = RoutingConfig.from_mapping(
        {"capacity": {"standard": {"units": 100, "costs": {"webchat": 30, "email": 10}}}}
    )
    capacity = config.capacity["standard"].resolve()
    assert capacity.accepted == {"webchat", "email"}
    assert capacity.units == 100


def _doc_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks, "docs/routing.md has no ```toml block"
    return str(blocks[0])


def test_docs_worked_example_parses() -> None:
    config = RoutingConfig.from_toml(_doc_example())
    assert {"gold", "silver", "bronze", "billing-es"} <= set(config.queues)
    steps = config.queues["billing-es"].overflow
    assert any(s.after == 60 for s in steps)
    assert [r.name for r in config.intake][:1] == ["spanish billing"]


def test_docs_worked_example_routes_spanish_billing_to_its_queue() -> None:
    from router import ItemArrived, ItemQueued, Router, WorkItem

    router = Router(RoutingConfig.from_toml(_doc_example()))
    item = WorkItem(
        "c1",
        "webchat",
        0.0,
        language="es",
        attributes={"prechat": {"topic": "billing"}, "customer": {"tier": "gold"}},
    )
    (queued,) = router.handle(ItemArrived(item), 0.0)
    # "spanish billing" matches first and stops: the gold rule never runs.
    assert queued == ItemQueued("c1", "billing-es", 0, "arrived")
