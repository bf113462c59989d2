"""The business process flow a case goes through: identify → research → resolve.

A flow is an ordered list of stages, each with the fields that must be set
before the case may leave it forward. Going back is always allowed (a case
found to need more research goes back to it). Jumping ahead over several
stages needs every skipped stage's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cases.errors import StageIncomplete, UnknownStage
from cases.model import Case


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessFlow:
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a process flow needs at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")

    @property
    def first(self) -> str:
        return self.stages[0].name

    def index(self, name: str) -> int:
        for i, stage in enumerate(self.stages):
            if stage.name == name:
                return i
        known = ", ".join(s.name for s in self.stages)
        raise UnknownStage(f"unknown stage {name!r}; the stages are {known}")

    def move(self, case: Case, target: str) -> str:
        """The stage ``case`` may move to, or raise.

        Raises:
            UnknownStage: ``target`` is not in the flow.
            StageIncomplete: a stage left forward lacks required fields.
        """
        to = self.index(target)
        current = self.index(case.stage) if case.stage else 0
        for stage in self.stages[current:to]:
            missing = missing_fields(case, stage.required)
            if missing:
                raise StageIncomplete(stage.name, missing)
        return target


def missing_fields(case: Case, required: Sequence[str]) -> list[str]:
    return [name for name in required if case.value_of(name) in (None, "", [], {})]


DEFAULT_FLOW = ProcessFlow(
    (
        Stage("identify", ("customer",)),
        Stage("research", ("description",)),
        Stage("resolve", ()),
    )
)
