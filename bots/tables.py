"""The bots' table, on the store's single MetaData (migration 0008).

One row per conversation a bot took: who, since when, and how it ended
(``held`` until ``handed_off`` or ``closed``). It is what a restart rebuilds
bot-held conversations from, what an offer's ``context.handoff`` is read
from, and what the supervisors' report counts.
"""

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table

from conversations.schema import Time, metadata

bot_sessions = Table(
    "bot_sessions",
    metadata,
    Column("conversation_id", String(40), ForeignKey("conversations.id"), primary_key=True),
    Column("bot", String(100), nullable=False),
    Column("bot_user_id", String(40), nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", String(20)),
    Column("handoff", JSON),
    Column("started_at", Time, nullable=False),
    Column("ended_at", Time),
    Index("ix_bot_sessions_state", "state"),
    Index("ix_bot_sessions_started", "started_at"),
)
