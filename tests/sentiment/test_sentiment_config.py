import tomllib

import pytest
from pydantic import ValidationError

from sentiment import config as config_module
from sentiment.alerts import ActionKind, AlertKind, AlertState, evaluate_alerts
from sentiment.config import SentimentConfig
from sentiment.rolling import RollingSentiment


def test_defaults_are_a_working_configuration() -> None:
    config = SentimentConfig()
    assert (config.enabled, config.backend, config.worker) == (True, "lexicon", "auto")
    assert config.alerts.below is not None and config.alerts.drop is not None


def test_the_documented_toml_section_parses() -> None:
    doc = config_module.__doc__ or ""
    toml_text = doc.split("```toml")[1].split("```")[0]
    config = SentimentConfig.model_validate(tomllib.loads(toml_text)["sentiment"])
    assert config.alerts.drop is not None
    assert config.alerts.drop.action is ActionKind.ESCALATE
    assert config.alerts.drop.queue == "supervisors"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backend": "magic"}, "unknown backend 'magic'"),
        ({"backend": "transformers"}, "needs 'model'"),
        ({"alpha": 0}, "alpha"),
        ({"window": 4, "trend_over": 4}, "trend_over"),
        ({"window": 3, "trend_over": 1, "alerts": {"drop": {"within": 3}}}, "alerts.drop.within"),
        ({"thresholds": 1}, "thresholds"),
        ({"alerts": {"below": {"action": "escalate"}}}, "needs a queue"),
    ],
)
def test_bad_settings_are_rejected_with_a_clear_message(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SentimentConfig.model_validate(data)


def test_a_rule_can_be_switched_off_from_toml() -> None:
    data = tomllib.loads("[sentiment.alerts.below]\nenabled = false\n")["sentiment"]
    config = SentimentConfig.model_validate(data)
    rolling = RollingSentiment().update(-1.0)
    alerts, _ = evaluate_alerts(config.alerts, rolling, AlertState())
    assert [alert.kind for alert in alerts] == []
    default_alerts, _ = evaluate_alerts(SentimentConfig().alerts, rolling, AlertState())
    assert [alert.kind for alert in default_alerts] == [AlertKind.BELOW]
