"""Property-based tests: random event sequences never break the invariants."""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from router import (
    AgentConnected,
    AgentDisconnected,
    AgentUpserted,
    CapacityProfile,
    Command,
    Event,
    ItemArrived,
    ItemAssigned,
    ItemCancelled,
    ItemClosed,
    ManualAssign,
    OfferAccepted,
    OfferMade,
    OfferRejected,
    OfferRevoked,
    PresenceChanged,
    PriorityChanged,
    Rejected,
    Router,
    RoutingConfig,
    SkillRequirement,
    Tick,
    Transferred,
    WorkItem,
    check_invariants,
)

AGENTS = ["a1", "a2", "a3", "a4"]
SKILLS = ["billing", "tech"]
CONFIG = RoutingConfig.from_mapping(
    {
        "queues": {
            "default": {"method": "longest-idle"},
            "expert": {
                "method": "most-skilled",
                "match": "closest",
                "overflow": [
                    {"after": 5, "action": "lower_proficiency", "by": 2},
                    {"after": 10, "if_no_agent": True, "action": "move", "queue": "default"},
                ],
            },
        },
        "intake": [{"name": "tech", "when": 'prechat.topic == "tech"', "queue": "expert"}],
        "offers": {"timeout": 8, "per_agent": 2, "decline_memory": 6},
        "presence": {"grace": 4, "busy_at_capacity": True},
    }
)


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router(CONFIG)
        self.now = 0.0
        self.next_id = 0
        self.open: set[str] = set()
        self.offers: dict[str, OfferMade] = {}
        self.assigned: dict[str, str] = {}
        self.last: list[Command] = []

    def send(self, event: Event) -> list[Command]:
        cmds = self.router.handle(event, self.now)
        self.last = cmds
        for cmd in cmds:
            if isinstance(cmd, OfferMade):
                self.offers[cmd.offer_id] = cmd
            elif isinstance(cmd, OfferRevoked):
                del self.offers[cmd.offer_id]
            elif isinstance(cmd, ItemAssigned):
                if cmd.offer_id is not None:
                    del self.offers[cmd.offer_id]
                self.assigned[cmd.item_id] = cmd.agent_id
        return cmds

    @initialize()
    def agents(self) -> None:
        for i, aid in enumerate(AGENTS):
            capacity = CapacityProfile(channels={"webchat": 1 + i % 2, "sms": 2})
            self.send(AgentUpserted(aid, aid, {"billing": 1 + i, "tech": 4 - i}, capacity))
            self.send(AgentConnected(aid))

    @rule(dt=st.floats(0, 6))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.send(Tick())

    @rule(
        channel=st.sampled_from(["webchat", "sms"]),
        level=st.integers(0, 5),
        priority=st.integers(0, 3),
        topic=st.sampled_from(["tech", "other"]),
    )
    def arrive(self, channel: str, level: int, priority: int, topic: str) -> None:
        self.next_id += 1
        skills = (SkillRequirement("billing", level),) if level else ()
        item = WorkItem(
            f"c{self.next_id}",
            channel,  # type: ignore[arg-type]
            self.now,
            skills=skills,
            priority=priority,
            attributes={"prechat": {"topic": topic}},
        )
        self.send(ItemArrived(item))
        self.open.add(item.id)

    @precondition(lambda self: bool(self.offers))
    @rule(data=st.data(), accept=st.booleans())
    def answer_offer(self, data: st.DataObject, accept: bool) -> None:
        offer = self.offers[data.draw(st.sampled_from(sorted(self.offers)))]
        if accept:
            cmds = self.send(OfferAccepted(offer.offer_id, offer.agent_id))
            assert any(isinstance(c, ItemAssigned) for c in cmds)
        else:
            self.send(OfferRejected(offer.offer_id, offer.agent_id))
            self.offers.pop(offer.offer_id, None)

    @rule(offer_no=st.integers(1, 60), agent=st.sampled_from(AGENTS))
    def maybe_stale_accept(self, offer_no: int, agent: str) -> None:
        offer_id = f"o-{offer_no}"
        live = self.offers.get(offer_id)
        cmds = self.send(OfferAccepted(offer_id, agent))
        if live is None or live.agent_id != agent:
            assert not any(isinstance(c, ItemAssigned) for c in cmds)
            assert any(isinstance(c, Rejected) for c in cmds)

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), cancel=st.booleans())
    def close(self, data: st.DataObject, cancel: bool) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.open)))
        self.send(ItemCancelled(item_id) if cancel else ItemClosed(item_id))
        self.open.discard(item_id)
        self.assigned.pop(item_id, None)

    @precondition(lambda self: bool(self.assigned))
    @rule(data=st.data(), queue=st.sampled_from(["default", "expert"]))
    def transfer(self, data: st.DataObject, queue: str) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.assigned)))
        cmds = self.send(Transferred(item_id, self.assigned[item_id], queue, "note"))
        if not any(isinstance(c, Rejected) for c in cmds):
            del self.assigned[item_id]

    @rule(agent=st.sampled_from(AGENTS), status=st.sampled_from(["available", "away", "busy"]))
    def presence(self, agent: str, status: str) -> None:
        self.send(PresenceChanged(agent, status))

    @rule(agent=st.sampled_from(AGENTS), up=st.booleans())
    def connection(self, agent: str, up: bool) -> None:
        self.send(AgentConnected(agent) if up else AgentDisconnected(agent))

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), priority=st.integers(0, 9))
    def reprioritise(self, data: st.DataObject, priority: int) -> None:
        self.send(PriorityChanged(data.draw(st.sampled_from(sorted(self.open))), priority))

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data(), agent=st.sampled_from(AGENTS), force=st.booleans())
    def manual(self, data: st.DataObject, agent: str, force: bool) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.open)))
        cmds = self.send(ManualAssign(item_id, agent, force))
        if not any(isinstance(c, Rejected) for c in cmds):
            self.assigned[item_id] = agent

    @invariant()
    def invariants_hold(self) -> None:
        check_invariants(self.router, self.now, commands=self.last, open_items=self.open)


RouterMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRouterInvariants = RouterMachine.TestCase
