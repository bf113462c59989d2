import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentiment.errors import StateError
from sentiment.rolling import ConversationSentiment, RollingSentiment


def test_first_message_sets_the_rolling_value_outright() -> None:
    rolling = RollingSentiment().update(-0.8, alpha=0.3)
    assert rolling.value == -0.8
    assert rolling.count == 1


def test_rolling_value_is_exponentially_weighted() -> None:
    rolling = RollingSentiment().update(0.5, alpha=0.25).update(-0.5, alpha=0.25)
    assert rolling.value == pytest.approx(0.25 * -0.5 + 0.75 * 0.5)
    rolling = rolling.update(1.0, alpha=0.25)
    assert rolling.value == pytest.approx(0.25 * 1.0 + 0.75 * 0.25)
    assert rolling.count == 3


def test_update_returns_a_new_state_and_leaves_the_old_one_alone() -> None:
    before = RollingSentiment().update(0.5)
    after = before.update(-1.0)
    assert before.value == 0.5 and before.count == 1
    assert after is not before


def test_history_keeps_only_the_window() -> None:
    rolling = RollingSentiment()
    for score in [0.1, 0.2, 0.3, 0.4, 0.5]:
        rolling = rolling.update(score, alpha=1.0, window=3)
    assert rolling.history == (0.3, 0.4, 0.5)


def test_trend_is_now_minus_k_messages_ago() -> None:
    rolling = RollingSentiment()
    assert rolling.trend() is None
    for score in [0.6, 0.4, 0.0, -0.6]:
        rolling = rolling.update(score, alpha=1.0)
    assert rolling.trend(over=1) == pytest.approx(-0.6)
    assert rolling.trend(over=3) == pytest.approx(-1.2)
    # Asking further back than kept compares with the oldest value kept.
    assert rolling.trend(over=10) == pytest.approx(-1.2)


def test_drop_measures_the_fall_from_the_recent_peak() -> None:
    rolling = RollingSentiment()
    for score in [0.0, 0.8, 0.2, -0.2]:
        rolling = rolling.update(score, alpha=1.0)
    assert rolling.drop(within=2) == pytest.approx(1.0)
    assert rolling.drop(within=1) == pytest.approx(0.4)
    assert RollingSentiment().update(0.5).drop(within=3) == 0.0


def test_rising_sentiment_has_no_drop() -> None:
    rolling = RollingSentiment()
    for score in [-0.5, 0.0, 0.5]:
        rolling = rolling.update(score, alpha=1.0)
    assert rolling.drop(within=3) == 0.0
    assert rolling.trend(over=2) == pytest.approx(1.0)


def test_agent_messages_never_move_the_customer_score() -> None:
    state = ConversationSentiment().observe("customer", -0.8)
    state = state.observe("agent", 0.9).observe("agent", 0.9)
    assert state.customer.value == -0.8 and state.customer.count == 1
    assert state.agent.value == pytest.approx(0.9) and state.agent.count == 2


def test_bot_and_system_messages_are_not_folded_in() -> None:
    state = ConversationSentiment().observe("customer", 0.2)
    assert state.observe("bot", -1.0).observe("system", -1.0) == state


def test_unknown_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown sender role 'visitor'"):
        ConversationSentiment().observe("visitor", 0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 0.0}, "alpha"), ({"alpha": 1.5}, "alpha"), ({"window": 0}, "window")],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RollingSentiment().update(0.1, **kwargs)  # type: ignore[arg-type]


scores = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@given(
    st.lists(st.tuples(st.sampled_from(["customer", "agent", "bot"]), scores), max_size=30),
    st.floats(min_value=0.01, max_value=1.0),
)
def test_state_round_trips_through_a_dict_and_stays_in_bounds(
    messages: list[tuple[str, float]], alpha: float
) -> None:
    state = ConversationSentiment()
    for role, score in messages:
        state = state.observe(role, score, alpha=alpha, window=5)
    assert ConversationSentiment.from_dict(state.to_dict()) == state
    for side in (state.customer, state.agent):
        assert side.value is None or -1.0 <= side.value <= 1.0
        assert len(side.history) <= 5


def test_empty_stored_state_is_a_fresh_conversation() -> None:
    assert ConversationSentiment.from_dict(None) == ConversationSentiment()
    assert ConversationSentiment.from_dict({}) == ConversationSentiment()


@pytest.mark.parametrize(
    "data",
    [
        {"value": "bad", "count": 1, "history": ["bad"]},
        {"value": 0.5, "count": -1, "history": [0.5]},
        {"value": 0.5, "count": 1, "history": []},
        {"value": 0.5, "count": 1, "history": [0.1]},
        ["not", "a", "dict"],
    ],
)
def test_corrupt_stored_state_raises_a_state_error(data: object) -> None:
    with pytest.raises(StateError, match="bad rolling sentiment state"):
        RollingSentiment.from_dict(data)  # type: ignore[arg-type]
