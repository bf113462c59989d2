"""The surveys' durable side, beside the conversation store (``Store.engines``).

One row per conversation asked (the unique key on ``conversation_id`` is
what makes "once per conversation" hold across nodes), answered at most
once: the answer is an ``UPDATE`` guarded by ``status = 'asked'``, so two
answers racing cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from conversations.engine import Engines
from conversations.ids import new_id
from conversations.times import as_utc
from surveys.errors import BadSurvey
from surveys.rules import Answer, Survey, SurveyStatus, transition
from surveys.tables import surveys as t


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    id: str
    conversation_id: str
    customer_id: str
    channel: str
    queue: str
    agent_id: str | None
    questions: tuple[str, ...]
    status: str
    asked_at: datetime
    expires_at: datetime
    csat: int | None
    nps: int | None
    comment: str | None
    answered_at: datetime | None

    def rules_view(self) -> Survey:
        return Survey(
            self.conversation_id,
            self.customer_id,
            self.questions,
            self.status,
            self.asked_at,
            self.expires_at,
        )

    def to_frame(self) -> dict[str, Any]:
        """The ``survey`` frame a web chat visitor gets."""
        return {
            "type": "survey",
            "conversation_id": self.conversation_id,
            "questions": list(self.questions),
        }


def _record(row: Any) -> SurveyRecord:
    m = row._mapping
    answered = m["answered_at"]
    return SurveyRecord(
        id=m["id"],
        conversation_id=m["conversation_id"],
        customer_id=m["customer_id"],
        channel=m["channel"],
        queue=m["queue"],
        agent_id=m["agent_id"],
        questions=tuple(m["questions"] or ()),
        status=m["status"],
        asked_at=as_utc(m["asked_at"]),
        expires_at=as_utc(m["expires_at"]),
        csat=m["csat"],
        nps=m["nps"],
        comment=m["comment"],
        answered_at=None if answered is None else as_utc(answered),
    )


class SurveyStore:
    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    async def ask(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        channel: str,
        queue: str,
        agent_id: str | None,
        questions: tuple[str, ...],
        now: datetime,
        expires_at: datetime,
    ) -> SurveyRecord | None:
        """Record that a conversation's customer is asked; None when the
        conversation was asked before (by this node or another)."""
        try:
            async with self._engines.write.begin() as conn:
                await conn.execute(
                    insert(t).values(
                        id=new_id("sv"),
                        conversation_id=conversation_id,
                        customer_id=customer_id,
                        channel=channel,
                        queue=queue,
                        agent_id=agent_id,
                        questions=list(questions),
                        status=SurveyStatus.ASKED.value,
                        asked_at=now,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError:
            return None
        return await self.for_conversation(conversation_id)

    async def for_conversation(self, conversation_id: str) -> SurveyRecord | None:
        query = select(t).where(t.c.conversation_id == conversation_id)
        row = await self._engines.read.first(query)
        return _record(row) if row else None

    async def get(self, survey_id: str) -> SurveyRecord | None:
        row = await self._engines.read.first(select(t).where(t.c.id == survey_id))
        return _record(row) if row else None

    async def pending_for(
        self, customer_id: str, channel: str, now: datetime
    ) -> SurveyRecord | None:
        """The customer's newest unanswered survey on ``channel`` still open at ``now``."""
        query = (
            select(t)
            .where(
                t.c.customer_id == customer_id,
                t.c.channel == channel,
                t.c.status == SurveyStatus.ASKED.value,
                t.c.expires_at > now,
            )
            .order_by(t.c.asked_at.desc())
            .limit(1)
        )
        row = await self._engines.read.first(query)
        return _record(row) if row else None

    async def answered_by_ref(self, answer_ref: str) -> SurveyRecord | None:
        """The survey an inbound message (by its provider id) answered, if any."""
        row = await self._engines.read.first(select(t).where(t.c.answer_ref == answer_ref))
        return _record(row) if row else None

    async def record(
        self, survey: SurveyRecord, answer: Answer, *, now: datetime, answer_ref: str | None = None
    ) -> SurveyRecord:
        """Store the answer.

        Raises:
            BadSurvey: it was answered meanwhile (the guarded update lost).
        """
        target = transition(survey.status, "answer")
        async with self._engines.write.begin() as conn:
            result = await conn.execute(
                update(t)
                .where(t.c.id == survey.id, t.c.status == SurveyStatus.ASKED.value)
                .values(
                    status=target.value,
                    csat=answer.csat,
                    nps=answer.nps,
                    comment=answer.comment,
                    answered_at=now,
                    answer_ref=answer_ref,
                )
            )
            if result.rowcount != 1:
                raise BadSurvey("already_answered", "this survey was already answered")
        found = await self.get(survey.id)
        assert found is not None
        return found
