"""Bot sessions in the database, beside the conversation store (``Store.engines``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bots.handoff import SessionState, check_session_transition
from bots.tables import bot_sessions as t
from conversations.engine import Engines
from conversations.schema import conversations
from conversations.times import as_utc

CLOSED_BY_BOT = "bot"
"""``reason`` of a session the bot closed itself (else who did: customer, staff)."""


@dataclass(frozen=True, slots=True)
class BotSession:
    conversation_id: str
    bot: str
    bot_user_id: str
    state: SessionState
    reason: str | None
    handoff: dict[str, Any] | None
    started_at: datetime
    ended_at: datetime | None


def _session(row: Any) -> BotSession:
    return BotSession(
        conversation_id=row.conversation_id,
        bot=row.bot,
        bot_user_id=row.bot_user_id,
        state=SessionState(row.state),
        reason=row.reason,
        handoff=row.handoff,
        started_at=as_utc(row.started_at),
        ended_at=as_utc(row.ended_at) if row.ended_at is not None else None,
    )


@dataclass(frozen=True, slots=True)
class BotReport:
    held_now: dict[str, int]
    taken: int
    closed_by_bot: int
    closed_otherwise: int
    """Closed while a bot held it, by the customer or staff."""
    handed_off: int
    reasons: dict[str, int]

    @property
    def containment(self) -> float | None:
        """Share of the conversations bots took that a bot closed without a
        person; None when bots took none."""
        return self.closed_by_bot / self.taken if self.taken else None


def _pair(row: Any) -> tuple[Any, Any]:
    values: tuple[Any, ...] = tuple(row)
    return values[0], values[1]


class BotStore:
    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    async def start(self, conversation_id: str, bot: str, bot_user_id: str, now: datetime) -> None:
        values = {
            "bot": bot,
            "bot_user_id": bot_user_id,
            "state": SessionState.HELD.value,
            "reason": None,
            "handoff": None,
            "started_at": now,
            "ended_at": None,
        }
        async with self._engines.write.begin() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(t).values(conversation_id=conversation_id, **values))
            except IntegrityError:  # taken again after an earlier session ended
                await conn.execute(
                    update(t).where(t.c.conversation_id == conversation_id).values(**values)
                )

    async def end(
        self,
        conversation_id: str,
        state: SessionState,
        now: datetime,
        *,
        reason: str | None = None,
        handoff: dict[str, Any] | None = None,
    ) -> bool:
        """End a held session; False when it was not held (ended meanwhile)."""
        check_session_transition(SessionState.HELD, state)
        async with self._engines.write.begin() as conn:
            result = await conn.execute(
                update(t)
                .where(t.c.conversation_id == conversation_id, t.c.state == SessionState.HELD.value)
                .values(state=state.value, reason=reason, handoff=handoff, ended_at=now)
            )
            return bool(result.rowcount == 1)

    async def held(self) -> list[BotSession]:
        query = select(t).where(t.c.state == SessionState.HELD.value).order_by(t.c.started_at)
        return [_session(r) for r in await self._engines.read.all(query)]

    async def get(self, conversation_id: str) -> BotSession | None:
        row = await self._engines.read.first(
            select(t).where(t.c.conversation_id == conversation_id)
        )
        return _session(row) if row is not None else None

    async def handed_off_waiting(self) -> dict[str, dict[str, Any]]:
        """Hand-off records of conversations still waiting for a person."""
        query = (
            select(t.c.conversation_id, t.c.handoff)
            .join(conversations, conversations.c.id == t.c.conversation_id)
            .where(
                t.c.state == SessionState.HANDED_OFF.value,
                conversations.c.status.in_(("queued", "offered")),
            )
        )
        waiting: dict[str, dict[str, Any]] = {}
        for row in await self._engines.read.all(query):
            cid, record = _pair(row)
            if isinstance(record, dict):
                waiting[str(cid)] = record
        return waiting

    async def report(self, since: datetime | None, until: datetime | None) -> BotReport:
        held = select(t.c.bot, func.count()).where(t.c.state == SessionState.HELD.value)
        held_now: dict[str, int] = {}
        for row in await self._engines.read.all(held.group_by(t.c.bot)):
            bot, count = _pair(row)
            held_now[str(bot)] = int(count)
        query = select(t.c.state, t.c.reason, func.count())
        if since is not None:
            query = query.where(t.c.started_at >= since)
        if until is not None:
            query = query.where(t.c.started_at < until)
        rows = await self._engines.read.all(query.group_by(t.c.state, t.c.reason))
        taken = by_bot = otherwise = handed_off = 0
        reasons: Counter[str] = Counter()
        for row in rows:
            values: tuple[Any, ...] = tuple(row)
            state, reason, count = values
            taken += int(count)
            if state == SessionState.HANDED_OFF.value:
                handed_off += int(count)
                reasons[reason or "bot"] += int(count)
            elif state == SessionState.CLOSED.value:
                if reason == CLOSED_BY_BOT:
                    by_bot += int(count)
                else:
                    otherwise += int(count)
        return BotReport(
            held_now=held_now,
            taken=taken,
            closed_by_bot=by_bot,
            closed_otherwise=otherwise,
            handed_off=handed_off,
            reasons=dict(reasons),
        )
