"""Writing and reading the audit log (``Store.engines``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from audit.tables import audit_log as t
from conversations.engine import Engines
from conversations.models import rfc3339
from conversations.times import as_utc, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One security-relevant action: who did what to whom, from where."""

    action: str
    at: datetime
    actor_id: str | None = None
    """The account that acted (None: someone not signed in, or the CLI)."""
    actor_name: str | None = None
    subject_type: str | None = None
    """``user``, ``api_key``, ``case`` or ``customer``."""
    subject_id: str | None = None
    subject_name: str | None = None
    address: str | None = None
    """The client address of the request, when it came over HTTP."""
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": rfc3339(self.at),
            "action": self.action,
            "actor": {"id": self.actor_id, "name": self.actor_name},
            "subject": {
                "type": self.subject_type,
                "id": self.subject_id,
                "name": self.subject_name,
            },
            "address": self.address,
            "detail": self.detail,
        }


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        at=as_utc(row.at),
        action=row.action,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        subject_name=row.subject_name,
        address=row.address,
        detail=row.detail or {},
    )


class AuditStore:
    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    async def record(self, entry: AuditEntry) -> None:
        values = {
            "at": entry.at,
            "action": entry.action,
            "actor_id": entry.actor_id,
            "actor_name": _cut(entry.actor_name, 200),
            "subject_type": entry.subject_type,
            "subject_id": _cut(entry.subject_id, 100),
            "subject_name": _cut(entry.subject_name, 200),
            "address": _cut(entry.address, 64),
            "detail": entry.detail,
        }
        async with self._engines.write.begin() as conn:
            await conn.execute(insert(t).values(**values))

    async def add(
        self,
        action: str,
        *,
        actor_id: str | None = None,
        actor_name: str | None = None,
        subject_type: str | None = None,
        subject_id: str | None = None,
        subject_name: str | None = None,
        address: str | None = None,
        **detail: Any,
    ) -> None:
        """Record ``action`` now. Never raises: a failed write is logged and
        the action goes on (the log must not become a way to lock people out)."""
        entry = AuditEntry(
            action=action,
            at=utcnow(),
            actor_id=actor_id,
            actor_name=actor_name,
            subject_type=subject_type,
            subject_id=subject_id,
            subject_name=subject_name,
            address=address,
            detail=detail,
        )
        try:
            await self.record(entry)
        except Exception:
            log.exception("could not write the audit entry %s", action)

    async def entries(
        self,
        *,
        actions: Sequence[str] = (),
        actor_id: str | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; ``before_id`` pages back from an entry."""
        query = select(t)
        if actions:
            query = query.where(t.c.action.in_(list(actions)))
        if actor_id is not None:
            query = query.where(t.c.actor_id == actor_id)
        if subject_id is not None:
            query = query.where(t.c.subject_id == subject_id)
        if since is not None:
            query = query.where(t.c.at >= since)
        if until is not None:
            query = query.where(t.c.at < until)
        if before_id is not None:
            query = query.where(t.c.id < before_id)
        query = query.order_by(t.c.id.desc()).limit(limit)
        return [_entry(r) for r in await self._engines.read.all(query)]


def _cut(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None
