"""Topic clustering and similar texts on a small, clearly separable set."""

from __future__ import annotations

from knowledge.similar import SimilarIndex
from knowledge.topics import TopicModel, summarise

CARDS = [f"my card was stolen yesterday {i}" for i in range(6)] + [
    "someone stole my card",
    "card stolen need a new card",
]
REFUNDS = [f"refund for my order please {i}" for i in range(6)] + [
    "when will the refund arrive",
    "order refund not received",
]
PASSWORDS = [f"cannot reset my password {i}" for i in range(6)] + [
    "password reset email never came",
    "forgot password reset link",
]


def test_topics_separate_clear_groups_and_label_them_by_their_words() -> None:
    texts = CARDS + REFUNDS + PASSWORDS
    model = TopicModel(texts, k=3)
    assert len(model.topics) == 3
    groups = [set(t.members) for t in model.topics]
    for block in (range(0, 8), range(8, 16), range(16, 24)):
        assert set(block) in groups
    labels = " ".join(t.label for t in model.topics)
    assert "card" in labels and "refund" in labels and "password" in labels
    assert model.assign(["my card got stolen", "the weather is nice"]) == [
        next(i for i, t in enumerate(model.topics) if "card" in t.label),
        -1,
    ]


def test_summary_counts_share_trend_and_emerging_topics() -> None:
    current = CARDS + REFUNDS + PASSWORDS[:4]
    previous = REFUNDS[:2] + PASSWORDS[:4]
    found = {s.label.split(" / ")[0]: s for s in summarise(current, previous, k=3)}
    cards = next(s for label, s in found.items() if "card" in label or "stole" in label)
    refunds = next(s for label, s in found.items() if "refund" in label or "order" in label)
    assert cards.conversations == 8 and cards.previous == 0 and cards.emerging
    assert refunds.conversations == 8 and refunds.previous == 2 and refunds.trend == 3.0
    assert abs(sum(s.share for s in found.values()) - 1.0) < 1e-3


def test_tiny_and_empty_inputs_do_not_fail() -> None:
    assert summarise([], []) == []
    one = summarise(["hello"], ["hi there"])
    assert len(one) == 1 and one[0].conversations == 1
    assert TopicModel(["the", "a", "of"]).topics


def test_similar_index_finds_the_closest_texts() -> None:
    index = SimilarIndex(["c1", "c2", "c3"], CARDS[:1] + REFUNDS[:1] + PASSWORDS[:1])
    found = index.query("my card got stolen", k=2)
    assert found[0][0] == "c1" and found[0][1] > 0.2
    assert index.query("stolen card", exclude=frozenset({"c1"})) == []
    assert SimilarIndex([], []).query("anything") == []
