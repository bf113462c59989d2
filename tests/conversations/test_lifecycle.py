from __future__ import annotations

import pytest

from conversations import ConversationStatus, IllegalTransition
from conversations.lifecycle import TRANSITIONS, check_transition

S = ConversationStatus


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in S for d in TRANSITIONS[s]])
def test_listed_transitions_pass(src: S, dst: S):
    assert check_transition(src.value, dst.value) is dst


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in S for d in S if d not in TRANSITIONS[s]])
def test_unlisted_transitions_raise_naming_both_states(src: S, dst: S):
    with pytest.raises(IllegalTransition, match=f"from '{src.value}' to '{dst.value}'"):
        check_transition(src.value, dst.value)


def test_unknown_status_raises():
    with pytest.raises(IllegalTransition):
        check_transition("queued", "exploded")
