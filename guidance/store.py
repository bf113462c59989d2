"""Stored guidance state: script progress per conversation, and context
variables set by macros.

Beside the conversation store, sharing its database (``Store.engines``), as
conversations/deliveries.py does. Marking a macro step is a claim: the row
turns ``done`` only if it was not, in one statement, so two clicks (or two
agents) cannot run a macro twice; ``release`` undoes the claim when the
macro then fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from conversations import schema as t
from conversations.engine import Engines
from conversations.errors import ConversationNotFound
from conversations.times import as_utc, utcnow
from guidance.scripts import StepProgress
from guidance.tables import script_progress as p


def _progress(row: Any) -> StepProgress:
    m = row._mapping
    return StepProgress(
        step=m["step"],
        fingerprint=m["fingerprint"],
        done=bool(m["done"]),
        done_by=m["done_by"],
        done_by_name=m["done_by_name"],
        done_at=as_utc(m["done_at"]) if m["done_at"] is not None else None,
        result=m["result"] or {},
    )


class GuidanceStore:
    """Async access to the guidance table; one per process, beside ``Store``."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    async def progress(self, conversation_id: str, script: str) -> dict[int, StepProgress]:
        query = select(p).where(p.c.conversation_id == conversation_id, p.c.script == script)
        return {r.step: _progress(r) for r in await self._engines.read.all(query)}

    async def mark(
        self,
        conversation_id: str,
        script: str,
        step: int,
        fingerprint: str,
        *,
        done: bool,
        by: str,
        by_name: str | None,
        claim: bool = False,
        result: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record a step as done or not; with ``claim``, only if it is not
        done yet (returns False when someone got there first)."""
        now = utcnow()
        values = {
            "fingerprint": fingerprint,
            "done": done,
            "done_by": by if done else None,
            "done_by_name": by_name if done else None,
            "done_at": now if done else None,
            "result": dict(result or {}),
        }
        key = (
            p.c.conversation_id == conversation_id,
            p.c.script == script,
            p.c.step == step,
        )
        try:
            async with self._engines.write.begin() as conn:
                changed = await conn.execute(
                    update(p)
                    .where(
                        *key,
                        # A tick left from a step the config has since changed
                        # does not hold a claim back.
                        *(
                            (or_(p.c.done.is_(False), p.c.fingerprint != fingerprint),)
                            if claim
                            else ()
                        ),
                    )
                    .values(**values)
                )
                if changed.rowcount == 1:
                    return True
                if await conn.scalar(select(p.c.step).where(*key)) is not None:
                    return False  # only reachable with claim: it is done already
                await conn.execute(
                    insert(p).values(
                        conversation_id=conversation_id, script=script, step=step, **values
                    )
                )
                return True
        except IntegrityError:
            return False  # someone inserted it meanwhile
            exists = await conn.scalar(select(p.c.step).where(*key))
            if exists is not None:
                return False  # only reachable with claim: it is done already
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(p).values(
                            conversation_id=conversation_id, script=script, step=step, **values
                        )
                    )
            except IntegrityError:
                return False  # someone inserted it meanwhile
            return True

    async def finish(
        self, conversation_id: str, script: str, step: int, result: Mapping[str, Any]
    ) -> None:
        """Store what a claimed macro step did."""
        async with self._engines.write.begin() as conn:
            await conn.execute(
                update(p)
                .where(
                    p.c.conversation_id == conversation_id,
                    p.c.script == script,
                    p.c.step == step,
                )
                .values(result=dict(result))
            )

    async def release(self, conversation_id: str, script: str, step: int) -> None:
        """Undo a claim whose macro failed, so the step can be run again."""
        async with self._engines.write.begin() as conn:
            await conn.execute(
                delete(p).where(
                    p.c.conversation_id == conversation_id,
                    p.c.script == script,
                    p.c.step == step,
                )
            )

    async def set_context(
        self, conversation_id: str, name: str, value: Any, *, actor: str | None
    ) -> dict[str, Any]:
        """Set one variable of the conversation's context; the new context."""
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.conversations.c.context)
                    .where(t.conversations.c.id == conversation_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise ConversationNotFound(conversation_id)
            context = {**(row.context or {}), name: value}
            await conn.execute(
                update(t.conversations)
                .where(t.conversations.c.id == conversation_id)
                .values(context=context, updated_at=utcnow())
            )
            await conn.execute(
                insert(t.timeline).values(
                    conversation_id=conversation_id,
                    type="context_set",
                    actor=actor,
                    data={"name": name, "value": value},
                    created_at=utcnow(),
                )
            )
            return context
