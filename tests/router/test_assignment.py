"""The indexed decision paths choose exactly what a full scan would."""

from hypothesis import given, settings
from hypothesis import strategies as st

from router import ItemClosed, OfferAccepted
from router.assignment import Method, choose
from router.skills import MatchMode, satisfies
from tests.router.helpers import Driver, offers, req

SKILLS = ["billing", "tech", "sales"]


@settings(max_examples=40, deadline=None)
@given(
    agents=st.lists(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3),
        min_size=35,
        max_size=60,
    ),
    history=st.lists(st.integers(0, 10_000), max_size=40),
    need=st.one_of(st.none(), st.tuples(st.sampled_from(SKILLS), st.integers(1, 5))),
)
def test_longest_idle_fast_path_matches_a_full_scan(
    agents: list[dict[str, int]], history: list[int], need: tuple[str, int] | None
) -> None:
    d = Driver({"capacity": {"standard": {"channels": {"webchat": 1}}}})
    for i, skills in enumerate(agents):
        d.agent(f"a{i:02d}", skills)
    # Give agents different idle times: assign and close a few items.
    for n, pick in enumerate(history):
        d.now += 1
        made = offers(d.arrive(f"h{n}"))
        if made:
            d.send(OfferAccepted(made[0].offer_id, made[0].agent_id))
            if pick % 3:
                d.send(ItemClosed(f"h{n}"))
    router = d.router
    reqs = (req(*need),) if need else ()
    ready = router._index.ready["webchat"]
    eligible = [
        router._index.agents[aid]
        for aid in ready
        if satisfies(router._index.agents[aid].skills, reqs)
    ]
    expected = choose(eligible, Method.LONGEST_IDLE, MatchMode.EXACT, "webchat", reqs)
    made = offers(d.arrive("target", skills=reqs))
    if expected is None:
        assert made == []
    else:
        assert made[0].agent_id == expected.id
