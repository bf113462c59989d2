"""Small helpers to drive a Router in tests without ceremony."""

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from router import (
    AgentConnected,
    AgentUpserted,
    CapacityProfile,
    Command,
    Event,
    ItemArrived,
    OfferMade,
    Router,
    RoutingConfig,
    SkillRequirement,
    WorkItem,
    check_invariants,
)
from router.items import Channel


class Driver:
    """A router plus a clock; every call checks the invariants."""

    def __init__(self, config: RoutingConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, Mapping):
            config = RoutingConfig.from_mapping(config)
        self.router = Router(config)
        self.now = 0.0

    def send(self, event: Event, at: float | None = None) -> list[Command]:
        if at is not None:
            self.now = at
        cmds = self.router.handle(event, self.now)
        check_invariants(self.router, self.now, commands=cmds)
        return cmds

    def agent(
        self,
        agent_id: str,
        skills: Mapping[str, int] | None = None,
        capacity: Any = None,
        queues: Iterable[str] | None = None,
        connect: bool = True,
    ) -> list[Command]:
        if isinstance(capacity, Mapping):
            capacity = CapacityProfile.model_validate(capacity)
        cmds = self.send(
            AgentUpserted(
                agent_id,
                agent_id.upper(),
                dict(skills or {}),
                capacity,
                None if queues is None else frozenset(queues),
            )
        )
        if connect:
            cmds += self.send(AgentConnected(agent_id))
        return cmds

    def arrive(
        self,
        item_id: str,
        channel: Channel = "webchat",
        skills: Iterable[SkillRequirement] = (),
        priority: int = 0,
        queue: str | None = None,
        at: float | None = None,
        **attributes: Any,
    ) -> list[Command]:
        if at is not None:
            self.now = at
        item = WorkItem(
            item_id,
            channel,
            self.now,
            queue=queue,
            skills=tuple(skills),
            priority=priority,
            language=attributes.pop("language", None),
            attributes=attributes,
        )
        return self.send(ItemArrived(item))


T = TypeVar("T")


def of(kind: type[T], cmds: Iterable[Command]) -> list[T]:
    return [c for c in cmds if isinstance(c, kind)]


def offers(cmds: Iterable[Command]) -> list[OfferMade]:
    return of(OfferMade, cmds)


def req(name: str, level: int = 1, optional: bool = False) -> SkillRequirement:
    return SkillRequirement(name, level, optional)
