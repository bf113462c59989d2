"""Which script an agent follows for a conversation, and its steps with progress.

The first script (in config order) whose ``when`` holds for the conversation
is its script; a script without ``when`` matches every conversation, so it
belongs last, as a fallback. The choice is made afresh on every look, so a
transfer to another queue can bring another script; progress is kept per
script and step, so coming back finds the ticks where they were.

A step's progress is tied to its content by a fingerprint: if the operator
edits or reorders a script, a tick does not silently move to another step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guidance.config import CheckStep, MacroConfig, MacroStep, ScriptConfig, Step, TextStep
from guidance.errors import StepError


def conversation_facts(
    *,
    queue: str,
    channel: str,
    language: str | None,
    context: Mapping[str, Any],
    prechat: Mapping[str, Any],
    customer: Mapping[str, Any],
) -> dict[str, Any]:
    """What a script's ``when`` reads. ``intent`` is the skill finder's intent,
    kept in the context under ``intent`` (a name, or an object with ``name``)."""
    intent: Any = context.get("intent")
    if isinstance(intent, Mapping):
        intent = intent.get("name", intent.get("intent"))
    return {
        "queue": queue,
        "channel": channel,
        "language": language,
        "intent": intent,
        "context": dict(context),
        "prechat": dict(prechat),
        "customer": dict(customer),
    }


def choose_script(scripts: Sequence[ScriptConfig], facts: dict[str, Any]) -> ScriptConfig | None:
    for script in scripts:
        if script.matches(facts):
            return script
    return None


def fingerprint(step: Step) -> str:
    """A short digest of what a step says or does."""
    content = step.macro if isinstance(step, MacroStep) else step.text
    return hashlib.sha256(f"{step.kind}\x00{content}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StepProgress:
    """What the store keeps for one step of one script on one conversation."""

    step: int
    fingerprint: str
    done: bool
    done_by: str | None
    done_by_name: str | None
    done_at: datetime | None
    result: Mapping[str, Any] = field(default_factory=dict)


def step_of(script: ScriptConfig, index: int) -> Step:
    if not 0 <= index < len(script.steps):
        raise StepError(
            f"script {script.name!r} has steps 0 to {len(script.steps) - 1}; got {index}",
            "no_such_step",
        )
    return script.steps[index]


def check_mark(step: Step, done: bool, already: StepProgress | None) -> None:
    """Raise ``StepError`` if ``done`` cannot be recorded on ``step`` now.

    Text and check steps tick and untick freely. A macro step runs its macro
    when ticked: once only, and it cannot be unticked (a sent message stays
    sent)."""
    if isinstance(step, TextStep | CheckStep):
        return
    if not done:
        raise StepError("a macro step cannot be undone once run", "step_done")
    if already is not None and already.done:
        raise StepError("this macro step has already been run", "step_done")


def script_view(
    script: ScriptConfig,
    progress: Mapping[int, StepProgress],
    macros: Mapping[str, MacroConfig],
    rfc3339: Any,
) -> dict[str, Any]:
    """The script as the console shows it: steps, with progress where the
    stored fingerprint still matches the step."""
    steps = []
    done = 0
    for index, step in enumerate(script.steps):
        stored = progress.get(index)
        if stored is not None and stored.fingerprint != fingerprint(step):
            stored = None
        item: dict[str, Any] = {
            "index": index,
            "kind": step.kind,
            "text": step.text,
            "done": bool(stored and stored.done),
            "done_by": stored.done_by_name if stored and stored.done else None,
            "done_at": rfc3339(stored.done_at)
            if stored and stored.done and stored.done_at
            else None,
        }
        if isinstance(step, MacroStep):
            macro = macros[step.macro]
            item["macro"] = {
                "name": macro.name,
                "title": macro.label,
                "actions": [a.kind for a in macro.actions],
            }
            item["text"] = step.text or macro.label
            if stored and stored.done:
                item["result"] = dict(stored.result)
        done += item["done"]
        steps.append(item)
    return {
        "name": script.name,
        "title": script.title or script.name,
        "steps": steps,
        "done": done,
        "total": len(steps),
    }
