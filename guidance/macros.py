"""Turning a macro into the concrete actions to carry out, in order.

``plan`` renders every template with the conversation's values first, so a
macro either has all its actions ready or fails before any is carried out.
The gateway's shell (gateway/guidance_api.py) then sends, sets, transfers
and closes through the same operations as the rest of the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guidance.config import CloseAction, MacroConfig, SendAction, SetAction, TransferAction
from guidance.templates import Escape, Template


@dataclass(frozen=True, slots=True)
class Send:
    text: str


@dataclass(frozen=True, slots=True)
class SetContext:
    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class Transfer:
    queue: str
    note: str | None


@dataclass(frozen=True, slots=True)
class Close:
    pass


Planned = Send | SetContext | Transfer | Close


def plan(macro: MacroConfig, values: Mapping[str, Any], channel: str) -> list[Planned]:
    """The macro's actions with templates filled in (escaped for ``channel``)."""
    steps: list[Planned] = []
    for action in macro.actions:
        if isinstance(action, SendAction):
            text = Template.parse(action.text).render(values, Escape.for_channel(channel))
            steps.append(Send(text))
        elif isinstance(action, SetAction):
            value = action.value
            if isinstance(value, str):
                # Data, not display: control characters go, nothing else changes.
                value = Template.parse(value).render(values, Escape.TEXT)
            steps.append(SetContext(action.name, value))
        elif isinstance(action, TransferAction):
            steps.append(Transfer(action.queue, action.note))
        elif isinstance(action, CloseAction):
            steps.append(Close())
    return steps
