"""Queue order and the bucket index behind a freed agent's search."""

from hypothesis import given, settings
from hypothesis import strategies as st

from router.items import SkillRequirement
from router.queues import Queue
from router.skills import normalize, satisfies

SKILLS = ["a", "b", "c", "d"]
CHANNELS = ["webchat", "sms"]

needs = st.lists(st.tuples(st.sampled_from(SKILLS), st.integers(1, 5)), max_size=2)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(CHANNELS), needs, st.integers(0, 3), st.floats(0, 1000)),
        max_size=40,
    ),
    removed=st.sets(st.integers(0, 39)),
    agent=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5)),
    channels=st.sets(st.sampled_from(CHANNELS), min_size=1),
    declined=st.sets(st.integers(0, 39)),
    aging=st.sampled_from([0.0, 30.0]),
)
def test_best_is_the_first_takeable_item_in_queue_order(
    items: list[tuple[str, list[tuple[str, int]], int, float]],
    removed: set[int],
    agent: dict[str, int],
    channels: set[str],
    declined: set[int],
    aging: float,
) -> None:
    queue = Queue("q", aging)
    live = {}
    for seq, (channel, need, priority, arrived) in enumerate(items):
        reqs = normalize(SkillRequirement(n, lv) for n, lv in need)
        key = queue.key(priority, arrived, seq)
        queue.add(f"i{seq}", key, channel, reqs, priority)  # type: ignore[arg-type]
        live[f"i{seq}"] = (key, channel, reqs, priority)
    for seq in removed:
        if f"i{seq}" in live:
            key, channel, reqs, priority = live.pop(f"i{seq}")
            queue.remove(f"i{seq}", key, channel, reqs, priority)
    skip = {f"i{n}" for n in declined}
    expected = next(
        (
            (key, item_id)
            for key, item_id in sorted((v[0], k) for k, v in live.items())
            if live[item_id][1] in channels
            and satisfies(agent, live[item_id][2])
            and item_id not in skip
        ),
        None,
    )
    found = queue.best(agent, frozenset(channels), lambda i: i not in skip)  # type: ignore[arg-type]
    assert found == expected
    assert len(queue) == len(live)
    assert [i for _, i in queue.waiting()] == [
        k for _, k in sorted((v[0], k) for k, v in live.items())
    ]


def test_aging_key_ranks_one_level_per_period() -> None:
    queue = Queue("q", 60.0)
    # Priority 1 arriving 60 s later ties with priority 0 on effective priority;
    # arrival then decides, so the older one goes first.
    assert queue.key(0, 0.0, 1) < queue.key(1, 60.0, 2)
    assert queue.key(1, 59.0, 2) < queue.key(0, 0.0, 1)
    flat = Queue("q", 0.0)
    assert flat.key(1, 1000.0, 2) < flat.key(0, 0.0, 1)
