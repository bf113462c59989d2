"""The chat tuning: each feature moves the score the right way against plain VADER."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from sentiment import Label, Scorer
from sentiment.lexicon import ChatAnalyzer, LexiconScorer, VaderScorer

ours = LexiconScorer()
vader = VaderScorer()


def score(text: str) -> float:
    return ours.score(text).score


def plain(text: str) -> float:
    return vader.score(text).score


def test_both_scorers_satisfy_the_protocol() -> None:
    assert isinstance(ours, Scorer)
    assert isinstance(vader, Scorer)
    assert (ours.name, vader.name) == ("lexicon", "vader")


def test_plain_vader_scorer_is_unchanged_vader() -> None:
    text = "The plot was good, but the characters are uncompelling :("
    expected = SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    assert plain(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I am still waiting for my refund",
        "I want to cancel my account",
        "this is the third time I ask",
        "no one has replied to my email",
        "Nobody answered my call",
        "I have been on hold for an hour",
        "the app is still not working",
        "my package never arrived",
        "I was charged twice",
    ],
)
def test_customer_service_complaints_read_negative(text: str) -> None:
    assert score(text) < plain(text)
    assert ours.score(text).label is Label.NEGATIVE


@pytest.mark.parametrize(
    "text",
    ["thanks so much", "that fixed it", "it works now", "you guys rock", "problem solved"],
)
def test_customer_service_thanks_and_resolution_read_positive(text: str) -> None:
    assert score(text) > plain(text)
    assert ours.score(text).label is Label.POSITIVE


@pytest.mark.parametrize(
    "text",
    [
        "I need help with my order",
        "please reset my password",
        "I would like a refund",
        "can you help me change my address",
    ],
)
def test_plain_requests_are_neutral_not_warm(text: str) -> None:
    assert plain(text) > 0.05
    assert ours.score(text).label is Label.NEUTRAL


def test_like_as_comparison_is_not_fondness() -> None:
    text = "It looks like my package is lost"
    assert plain(text) > 0
    assert score(text) < 0
    assert score("I like this app") > 0


def test_negation_does_not_cross_a_comma() -> None:
    text = "not bad, great"
    assert plain(text) < 0
    assert score(text) > 0.5


def test_negation_still_flips_within_a_clause() -> None:
    assert score("not happy") < 0
    assert score("this is not good") < 0


def test_emoji_vader_leaves_at_zero_get_their_chat_meaning() -> None:
    assert plain("\U0001f621") == 0.0 and score("\U0001f621") < -0.3  # pouting face
    assert plain("\U0001f644") == 0.0 and score("\U0001f644") < 0  # rolling eyes
    assert plain("\U0001f44d") == 0.0 and score("\U0001f44d") > 0.3  # thumbs up


def test_emoji_with_variation_selector_or_skin_tone_is_recognised() -> None:
    heart = "I love it \u2764\ufe0f"
    assert score(heart) > plain(heart)
    thumbs = "ok \U0001f44d\U0001f3fd"
    assert score(thumbs) > score("ok")


def test_elongated_words_read_as_their_base_word_with_emphasis() -> None:
    assert plain("goooood") == 0.0
    assert score("goooood") > score("good") > 0
    assert score("this is sooooo bad") < score("this is so bad") < 0


def test_intensifiers_still_intensify() -> None:
    assert score("very slow") < score("slow") < 0
    assert score("extremely helpful") > score("helpful") > 0


def test_a_shouted_message_intensifies_its_sentiment_words() -> None:
    assert plain("THIS IS UNACCEPTABLE") == plain("This is unacceptable")
    assert score("THIS IS UNACCEPTABLE") < score("This is unacceptable") < 0


def test_a_shouted_message_without_sentiment_words_reads_as_anger() -> None:
    assert plain("WHERE IS MY ORDER") == 0.0
    assert score("WHERE IS MY ORDER") < 0
    assert score("where is my order") == 0.0


def test_repeated_question_marks_read_as_impatience() -> None:
    assert plain("Where is my order???") == 0.0
    assert score("Where is my order???") < 0
    assert score("Where is my order?") == 0.0


def test_repeated_exclamation_marks_still_amplify() -> None:
    assert score("great service!!!") > score("great service!") > score("great service") > 0


def test_trailing_punctuation_no_longer_hides_short_words() -> None:
    assert plain("ok.") == 0.0
    assert score("ok.") > 0


def test_but_rule_weights_by_position_not_by_value() -> None:
    words = ["great", "good", "but", "fine"]
    sentiments = [2.0, 1.0, 0.0, 1.0]
    fixed = ChatAnalyzer._but_check(words, list(sentiments))
    assert fixed == [1.0, 0.5, 0.0, 1.5]
    # VADER looks each value up with list.index, so the second 1.0 is found
    # at the already-halved first position: this is the bug being fixed.
    assert SentimentIntensityAnalyzer._but_check(words, list(sentiments)) != fixed


def test_other_languages_score_only_emoji_and_emoticons() -> None:
    assert ours.score("no me gusta nada", "es").label is Label.NEUTRAL
    assert ours.score("no me gusta nada \U0001f621", "es").label is Label.NEGATIVE
    assert ours.score("gracias :)", "es-MX").label is Label.POSITIVE
    assert ours.score("this is awful", "en-GB").label is Label.NEGATIVE
    assert ours.score("this is awful").label is Label.NEGATIVE


def test_batch_scoring_equals_one_by_one() -> None:
    texts = ["thanks so much", "still waiting", "", "WHERE IS MY ORDER", "ok"]
    languages = ["en", None, None, "en", "fr"]
    batch = ours.score_batch(texts, languages)
    assert batch == [ours.score(t, lang) for t, lang in zip(texts, languages, strict=True)]
    assert ours.score_batch([]) == []


@given(st.text(max_size=200))
def test_any_text_scores_within_bounds_with_a_matching_label(text: str) -> None:
    result = ours.score(text)
    assert -1.0 <= result.score <= 1.0
    assert result.label is Label.NEUTRAL or (result.score > 0) == (result.label is Label.POSITIVE)
