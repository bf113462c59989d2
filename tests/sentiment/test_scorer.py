import math

import pytest

from sentiment import Label, Sentiment, label_for
from sentiment.scorer import check_languages


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (-1.0, Label.NEGATIVE),
        (-0.05, Label.NEGATIVE),
        (-0.0499, Label.NEUTRAL),
        (0.0, Label.NEUTRAL),
        (0.0499, Label.NEUTRAL),
        (0.05, Label.POSITIVE),
        (1.0, Label.POSITIVE),
    ],
)
def test_label_thresholds_follow_the_neutral_band(score: float, label: Label) -> None:
    assert label_for(score) is label


def test_a_wider_neutral_band_makes_mild_scores_neutral() -> None:
    assert label_for(0.2, neutral_band=0.25) is Label.NEUTRAL
    assert label_for(-0.3, neutral_band=0.25) is Label.NEGATIVE


@pytest.mark.parametrize("score", [1.01, -1.5, math.nan, math.inf])
def test_sentiment_rejects_scores_outside_minus_one_to_one(score: float) -> None:
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        Sentiment(score, Label.NEUTRAL)


def test_from_score_clamps_float_noise_and_labels() -> None:
    assert Sentiment.from_score(1.0000000002) == Sentiment(1.0, Label.POSITIVE)
    assert Sentiment.from_score(-0.3) == Sentiment(-0.3, Label.NEGATIVE)


def test_wire_shape_is_score_and_label() -> None:
    assert Sentiment.from_score(0.123456).to_dict() == {"score": 0.1235, "label": "positive"}


def test_languages_must_match_texts() -> None:
    assert check_languages(["a", "b"], None) == [None, None]
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        check_languages(["a", "b"], ["en"])
